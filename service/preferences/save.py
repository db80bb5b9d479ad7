"""Applying what the person chose on the preference centre, in one transaction.

Only switches that were on the page (`shown`) and whose submitted state differs from the
current one are changed, so a topic added after the page was rendered is never switched off by
accident, and re-sending the same form changes nothing. Transactional topics are never changed.
A switch turned off or on is a person's choice to stop or resume, applied by
`consent.choice.apply_choice` (the same as a one-click) to the addresses the page showed.
`save_form` runs the transaction, so the route handler holds none.

A form sent with a Global Privacy Control signal (`Sec-GPC: 1`) also opts the person out of
every `sale_or_sharing` topic in the same transaction (`consent.gpc.honour_gpc`, source `gpc`);
the signal wins over the form: a sale_or_sharing topic is never switched on by such a form.
"Object to all marketing" records an objection (GDPR art. 21, `consent.objection`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.consent.choice import apply_choice
from service.consent.gpc import honour_gpc
from service.consent.ledger import Proof, Tx, set_preference
from service.consent.objection import object_to_marketing
from service.consent.pace import set_pace
from service.db.engine import Database
from service.preferences.view import Centre, load_centre
from service.topics.cache import TopicInfo

PAUSE_DAYS = {"30": 30, "90": 90}
CAP_CHOICES = (1, 2, 3, 5, 7, 14)  # "at most N marketing messages a week" on the page
# The wording the preference centre shows, recorded with every change it makes (ledger proof).
WORDING_VERSION = "preference-centre-1"


@dataclass(frozen=True, slots=True)
class Change:
    """One change, for the "what changed" list: kind is channel_on, channel_off, topic_on,
    topic_off, gpc_off (a topic the GPC signal switched off), objected, paused, resumed,
    frequency (`value` the frequency), cap (`value` the weekly cap, None: no limit) or
    brands_stopped (`value` the controller group, `names` its other brands: brands.py)."""

    kind: str
    channel: str | None = None
    topic: str | None = None  # the topic's name
    until: datetime | None = None
    value: str | int | None = None
    names: str | None = None


async def save_choices(
    tx: Tx, centre: Centre, *, checked: Collection[str], shown: Collection[str], pause_choice: str,
    proof: Proof, now: datetime, gpc: bool = False, paces: Mapping[str, str] | None = None,
) -> list[Change]:
    changes: list[Change] = []
    changes += await save_paces(tx, centre, paces or {}, proof=proof, now=now)
    common = {"contact_id": centre.contact_id, "proof": proof, "now": now}
    for ch in centre.channels:
        keys = {"channel": ch.channel, "address_keys": ch.address_keys}
        if ch.field in shown and (ch.field in checked) != ch.on:
            if await apply_choice(tx, stop=ch.on, topic=None, **keys, **common):
                changes.append(Change("channel_off" if ch.on else "channel_on", ch.channel))
        for topic in ch.topics:
            if topic.transactional or topic.field not in shown:
                continue
            if (topic.field in checked) != topic.on:
                if gpc and topic.sale_or_sharing and not topic.on:
                    continue  # the GPC signal wins: it opts this topic out below
                if await apply_choice(tx, stop=topic.on, topic=topic.key, **keys, **common):
                    changes.append(Change("topic_off" if topic.on else "topic_on", ch.channel,
                                          topic.name))
    if pause_choice in PAUSE_DAYS or (pause_choice == "resume" and centre.paused_until):
        until = now + timedelta(days=PAUSE_DAYS[pause_choice]) if pause_choice != "resume" \
            else None
        changed = False
        for ch in centre.channels:  # a pause keeps every status and lifts nothing
            changed |= await set_preference(
                tx, contact_id=centre.contact_id, channel=ch.channel, topic=None,
                action="paused" if until else "resumed", paused_until=until, proof=proof,
                now=now)
        if changed:
            changes.append(Change("paused", until=until) if until else Change("resumed"))
    return changes


async def save_paces(tx: Tx, centre: Centre, paces: Mapping[str, str], *, proof: Proof,
                     now: datetime) -> list[Change]:
    """The "How often?" and weekly-cap selects: only fields on the page whose value is one the
    page offered and differs from the person's choice; anything else is ignored."""
    changes = []
    common = {"contact_id": centre.contact_id, "proof": proof, "now": now}
    for ch in centre.channels:
        cap_text = paces.get(ch.cap_field)
        if cap_text is not None and cap_text in ("", *map(str, CAP_CHOICES)):
            cap = int(cap_text) if cap_text else None
            if cap != ch.max_per_week and await set_pace(
                    tx, channel=ch.channel, topic=None, max_per_week=cap, **common):
                changes.append(Change("cap", ch.channel, value=cap))
        for topic in ch.topics:
            chosen = paces.get(topic.frequency_field)
            if (len(topic.frequencies) > 1 and chosen in topic.frequencies
                    and chosen != topic.frequency
                    and await set_pace(tx, channel=ch.channel, topic=topic.key,
                                       frequency=chosen, **common)):
                changes.append(Change("frequency", ch.channel, topic.name, value=chosen))
    return changes


async def unsubscribe_all(tx: Tx, centre: Centre, *, proof: Proof,
                          now: datetime) -> list[Change]:
    """Opt out of all marketing on every channel of the contact (transactional mail goes on)."""
    changes = []
    for ch in centre.channels:
        if await apply_choice(tx, stop=True, contact_id=centre.contact_id, channel=ch.channel,
                              topic=None, address_keys=ch.address_keys, proof=proof, now=now):
            changes.append(Change("channel_off", ch.channel))
    return changes


async def object_all(tx: Tx, centre: Centre, *, proof: Proof, now: datetime) -> list[Change]:
    """Object to all direct marketing (GDPR art. 21): one `objected` event and whole-channel
    opt-outs on every channel (transactional mail goes on)."""
    done = await object_to_marketing(tx, centre.contact_id, proof, now)
    return ([Change("objected")] if done.recorded else []) + [
        Change("channel_off", channel) for channel in done.channels]


async def save_form(
    db: Database, topics: dict[str, TopicInfo], contact_id: str, *, unsubscribe: bool,
    checked: Collection[str], shown: Collection[str], pause_choice: str, proof: Proof,
    now: datetime, objection: bool = False, gpc: bool = False,
    paces: Mapping[str, str] | None = None,
) -> list[Change] | None:
    """Apply a submitted preference centre form in one transaction; what changed, or None when
    the contact is gone (erased since the link was sent). The centre is read again inside the
    transaction, so the changes are decided against the state they are written over. `gpc`:
    the request carried `Sec-GPC: 1`."""
    async with db.transaction() as tx:
        centre = await load_centre(tx, topics, contact_id, now)
        if centre is None:
            return None
        if objection:
            changes = await object_all(tx, centre, proof=proof, now=now)
        elif unsubscribe:
            changes = await unsubscribe_all(tx, centre, proof=proof, now=now)
        else:
            changes = await save_choices(tx, centre, checked=checked, shown=shown,
                                         pause_choice=pause_choice, proof=proof, now=now,
                                         gpc=gpc, paces=paces)
        if gpc:
            changes += [Change("gpc_off", done.channel, done.topic.name)
                        for done in await honour_gpc(tx, topics, contact_id, proof, now)]
        return changes
