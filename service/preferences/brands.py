""""Stop all brands" (issue 18): one objection on a brand's preference centre stops every brand
of the same controller.

Tenants with the same `controller_group` are brands of one controller (one legal entity, or
entities acting as one). When the page's tenant allows it (its setting `stop_all_brands`, off
by default) and the group has another tenant, the page offers "stop every brand of <group>".
Choosing it writes, in one transaction:
- in the page's tenant, exactly what "Unsubscribe from all marketing" writes (source
  `preference_centre`): every channel of the contact opted out as a whole;
- in every other tenant of the group, never one outside it, for each address the page showed
  (address keys are global, decision D6, so the key is the same there): the contact holding the
  address there opts out of the whole channel, with its own ledger event (source
  `stop_all_brands`, the page's tenant named in its detail), and the address gets the
  `unsubscribed` suppression (with its change-feed entry, that tenant's webhooks, …);
- an address that no contact holds in that tenant gets the suppression alone: the person asked
  for the brand to stop, so it must stop even before the brand has a record of them (the ESP
  and SMS paths do the same for unknown addresses). There is no ledger event without a contact:
  the suppression and its feed entry carry the source.
Every tenant of the group is written whether or not it allows the option itself: the page
promised that every brand stops, and the controller is one.

The feed locks of all the tenants written are taken first, in ascending tenant id (plan §7
risk 8), so two such requests from different brands of one group cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from service.consent.choice import apply_choice
from service.consent.ledger import Proof, Tx
from service.db.tenant_db import TenantTx
from service.preferences.save import Change, unsubscribe_all
from service.preferences.view import Centre, load_centre
from service.runtime import Runtime
from service.suppression.store import contacts_of
from service.tenants.model import Tenant
from service.topics.cache import TopicInfo

SOURCE = "stop_all_brands"


@dataclass(frozen=True, slots=True)
class Group:
    """What the page offers: the controller group and its other brands."""

    name: str
    brands: tuple[Tenant, ...]

    @property
    def brand_names(self) -> str:
        return ", ".join(t.name for t in self.brands)


def allowed(rt: Runtime) -> bool:
    """The tenant's own setting, else the deployment's (STOP_ALL_BRANDS); the default tenant's
    view keeps the flat settings, so its row's setting is read here too."""
    tenant = rt.tenant
    if tenant is None:
        return False
    return bool(tenant.settings.get("stop_all_brands", rt.settings.stop_all_brands))


def offered(rt: Runtime) -> Group | None:
    """The group whose brands the page may stop, or None: not allowed, no group, or no other
    tenant in it (the registry's copy, at most TENANT_CACHE_SECONDS old)."""
    tenant = rt.tenant
    if tenant is None or not tenant.controller_group or not allowed(rt):
        return None
    brands = tuple(t for t in rt.tenants.all()
                   if t.controller_group == tenant.controller_group and t.id != tenant.id)
    return Group(tenant.controller_group, brands) if brands else None


async def stop_brand(tx: Tx, centre: Centre, *, proof: Proof, detail: dict,
                     now: datetime) -> bool:
    """Opt the page's addresses out of every channel in the tenant of `tx`; whether anything
    changed."""
    changed = False
    for ch in centre.channels:
        holders = await contacts_of(tx, ch.channel, ch.address_keys)
        by_contact: dict[str | None, list[str]] = {}
        for key in ch.address_keys:
            by_contact.setdefault(holders.get(key), []).append(key)
        for contact_id, keys in by_contact.items():
            outcome = await apply_choice(tx, stop=True, channel=ch.channel, topic=None,
                                         proof=proof, contact_id=contact_id, address_keys=keys,
                                         detail=detail, now=now)
            changed |= bool(outcome)
    return changed


async def stop_all_brands(rt: Runtime, topics: dict[str, TopicInfo], contact_id: str, *,
                          proof: Proof, now: datetime) -> list[Change] | None:
    """Apply the choice (see the module's text); what changed on this page, or None when the
    contact is gone. Without an offer (the setting was turned off since the page was shown),
    only the page's own tenant is written, as "Unsubscribe from all marketing"."""
    await rt.tenants.find(rt.db, tenant_id=rt.tenant_id)  # reloads a stale copy
    group = offered(rt)
    brands = group.brands if group else ()
    async with rt.db.transaction() as tx:
        views = {t.id: TenantTx(tx.raw, t.id) for t in brands}
        for tenant_id in sorted([tx.tenant_id, *views]):
            await (views.get(tenant_id) or tx).lock_feed()
        centre = await load_centre(tx, topics, contact_id, now)
        if centre is None:
            return None
        changes = await unsubscribe_all(tx, centre, proof=proof, now=now)
        if group is None:
            return changes
        brand_proof = replace(proof, source=SOURCE)
        detail = {"page_tenant": rt.tenant.slug, "controller_group": group.name}
        stopped = False
        for brand in brands:
            stopped |= await stop_brand(views[brand.id], centre, proof=brand_proof,
                                        detail=detail, now=now)
        if stopped:
            changes.append(Change("brands_stopped", value=group.name, names=group.brand_names))
        return changes
