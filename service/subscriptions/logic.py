"""Double opt-in: a sign-up records `pending` consents and queues a confirmation email; the
person's POST on the confirmation page records `confirmed`, with time, IP and user agent.

The confirmation token (purpose "confirm", expiring after CONFIRM_MAX_AGE_DAYS) names the
contact, the channel, "*" (every topic still pending) and, in `extra`, the id of the address the
email went to: confirming proves control of that address only, so only its suppressions are
lifted. The page lists the pending topics and posts them back, so a topic that became pending
after the page was shown is not confirmed by accident.

A confirmation posted with a Global Privacy Control signal confirms no `sale_or_sharing` topic
and opts the person out of every one, in the same transaction (`consent.gpc.honour_gpc`): the
signal wins over the form (docs/privacy.md). A sign-up's backend passes the signal on as
`"gpc": true` (signup.py), with the same effect.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from service.consent.choice import apply_choice
from service.consent.decision import decide, lookup_state
from service.consent.gpc import GpcOptOut, honour_gpc
from service.consent.ledger import Proof, Tx, record_event, set_preference
from service.contacts.store import addresses_of
from service.db.tenant_db import TenantDb
from service.outbox import enqueue
from service.preferences.links import window_dedupe_key
from service.preferences.view import SELF_SERVICE, channel_reasons
from service.runtime import Runtime
from service.security.tokens import ALL_TOPICS, TokenData
from service.subscriptions import queries as q
from service.suppression.store import remove_suppression
from service.topics.cache import TopicInfo

UNDELIVERABLE = ("hard_bounce", "invalid", "undeliverable")  # the last: another tenant's (D10)


@dataclass(slots=True)
class Target:
    """What a confirmation link points at."""

    contact_id: str
    channel: str
    address_key: str
    pending: list[TopicInfo]


def confirm_url(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_base_url.rstrip('/')}/c/{token}"


async def pending_topics(conn, topics: dict[str, TopicInfo], contact_id: str,
                         channel: str) -> list[TopicInfo]:
    rows = await conn.fetch(q.PENDING_TOPICS, contact_id, channel)
    found = [topics.get(row["topic"]) for row in rows]
    return [t for t in found if t is not None and not t.archived]


async def load_target(conn, topics: dict[str, TopicInfo], data: TokenData) -> Target | None:
    """None when the address or contact is gone (erased since) or the token is malformed."""
    if not data.extra.isdigit():
        return None
    row = await conn.fetchrow(q.TARGET_ADDRESS, int(data.extra), data.contact_id, data.channel)
    if row is None:
        return None
    return Target(data.contact_id, data.channel, row["address_key"],
                  await pending_topics(conn, topics, data.contact_id, data.channel))


async def queue_confirmation(rt: Runtime, tx: Tx, topics: dict[str, TopicInfo], *,
                             contact_id: str, address_id: int, to: str, address_key: str,
                             lang: str, now: datetime) -> bool:
    """Queue the confirmation email (at most one per address per 10 minutes)."""
    token = rt.signer.sign("confirm", TokenData(contact_id, "email", ALL_TOPICS, "",
                                                extra=str(address_id)))
    names = [t.name for t in await pending_topics(tx, topics, contact_id, "email")]
    return await enqueue(tx, "email", {
        "to": to, "template": "confirm", "lang": lang, "list_unsubscribe": None,
        "context": {"url": confirm_url(rt, token), "topics": names,
                    "days": rt.settings.confirm_max_age_days},
    }, dedupe_key=window_dedupe_key("confirm", address_key, now), now=now)


async def _pending_wording(tx: Tx, contact_id: str, channel: str, topic: str) -> str | None:
    return await tx.fetchval(q.PENDING_WORDING, contact_id, channel, topic)


async def confirm(tx: Tx, topics: dict[str, TopicInfo], target: Target, chosen: set[str],
                  proof: Proof, now: datetime) -> list[TopicInfo]:
    """Confirm the chosen pending topics; returns those confirmed.

    If the address had been erased, or its owner had opted out of the whole channel, the
    confirmation is the explicit request that lets it back in: the `erased` suppression (which
    nothing else lifts) and the whole-channel opt-out are lifted for this address, and every
    other marketing topic on the channel is opted out, so only what was confirmed is allowed.
    Each opt-in and opt-out is a choice applied by `consent.choice.apply_choice`.
    """
    confirming = [t for t in target.pending if t.key in chosen]
    if not confirming:
        return []
    keys = [target.address_key]
    common = {"contact_id": target.contact_id, "channel": target.channel, "now": now}
    state = await lookup_state(tx, target.channel, target.address_key)
    erased = any(reason == "erased" for _, reason in state.suppressions)
    if erased or any(r in SELF_SERVICE for r in channel_reasons(state, now)):
        others = [t for t in topics.values() if not t.archived and not t.transactional
                  and target.channel in t.channels and t not in confirming]
        held = [r["address_key"] for r in
                await addresses_of(tx, target.contact_id, target.channel)]
        for topic in others:
            await apply_choice(tx, stop=True, topic=topic.key, address_keys=held, proof=proof,
                               **common)
        await apply_choice(tx, stop=False, topic=None, address_keys=keys, proof=proof, **common)
        if erased:
            await remove_suppression(tx, channel=target.channel, address_key=target.address_key,
                                     reason="erased", source=proof.source, now=now)
            await record_event(tx, contact_id=target.contact_id, channel=target.channel,
                               topic=None, action="confirmed", proof=proof,
                               address_key=target.address_key, now=now,
                               detail={"lifted_suppression": "erased"})
    for topic in confirming:
        wording = await _pending_wording(tx, target.contact_id, target.channel, topic.key)
        await apply_choice(tx, stop=False, topic=topic.key, address_keys=keys,
                           action="confirmed", proof=replace(proof, wording_version=wording),
                           **common)
    return confirming


async def mark_pending(tx: Tx, *, contact_id: str, channel: str, address_key: str,
                       wanted: list[TopicInfo], proof: Proof, now: datetime
                       ) -> tuple[list[str], list[str]]:
    """(pending, already subscribed): a topic the address already receives, or has a standing
    opt-in to that only a complaint or bounce blocks, stays as it is (never downgraded)."""
    state = await lookup_state(tx, channel, address_key)
    pending, already = [], []
    for topic in wanted:
        reasons = decide(state, topic, now)
        opted_in = any(t == topic.key and status == "opted_in"
                       for t, status, _ in state.preferences)
        if not reasons or (opted_in and not any(r in SELF_SERVICE for r in reasons)):
            already.append(topic.key)
            continue
        await set_preference(tx, contact_id=contact_id, channel=channel, topic=topic.key,
                             action="pending", proof=proof, address_key=address_key, now=now)
        pending.append(topic.key)
    return pending, already


def undeliverable(state) -> bool:
    return any(reason in UNDELIVERABLE for _, reason in state.suppressions)


# -- the confirmation pages' transactions (routes.py holds none) -------------------------------
# Each reads the link's target again inside its transaction, so a confirmation racing an
# erasure or another confirmation sees one state.
async def confirm_chosen(db: TenantDb, topics: dict[str, TopicInfo], data: TokenData,
                         chosen: set[str], proof: Proof, now: datetime, gpc: bool = False
                         ) -> tuple[list[TopicInfo], list[GpcOptOut]]:
    """Confirm the chosen pending topics of the link's sign-up; (those confirmed, none when
    the sign-up is gone; what a GPC signal, `gpc`, switched off)."""
    if gpc:
        chosen = {key for key in chosen if key not in topics or not topics[key].sale_or_sharing}
    async with db.transaction() as tx:
        target = await load_target(tx, topics, data)
        if target is None:
            return [], []
        confirmed = await confirm(tx, topics, target, chosen, proof, now)
        gpc_off = await honour_gpc(tx, topics, data.contact_id, proof, now) if gpc else []
        return confirmed, gpc_off


async def renew(rt: Runtime, topics: dict[str, TopicInfo], data: TokenData, lang: str,
                now: datetime) -> Target | None:
    """Queue a new confirmation email when topics are still pending; the target (None when
    the sign-up is gone), for the page to say what happened."""
    async with rt.db.transaction() as tx:
        target = await load_target(tx, topics, data)
        if target is not None and target.pending:
            address_id = int(data.extra)
            to = await tx.fetchval(q.ADDRESS_TEXT, address_id)
            await queue_confirmation(rt, tx, topics, contact_id=data.contact_id,
                                     address_id=address_id, to=to,
                                     address_key=target.address_key, lang=lang, now=now)
    return target
