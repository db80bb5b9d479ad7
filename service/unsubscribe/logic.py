"""Applying an unsubscribe (one-click, page button, mailto) and its undo. No framework here.

An unsubscribe token names (contact, channel, topic or "*", campaign). Using it is a person's
choice to stop, applied by `consent.choice.apply_choice` like every other source: the
preference `opted_out` with its ledger event, and an `unsubscribed` suppression (channel,
address key, topic or whole channel) for every address the contact has on that channel, all in
one transaction, committed before the caller answers. The writers return False when the state
is already there and take the feed lock first, so any number of repeats, concurrent or not,
leave one ledger event and one suppression per real change.

The one-click is benchmarked, so its path stays short: a read-only "already done?" query
(`queries.DONE_SQL`) answers repeats without taking the write lock, and one statement reads the
contact and its addresses (`contacts.store.contact_addresses`), which are handed to `apply_choice`.

A validly signed token whose contact no longer exists (erased) writes nothing and is answered
exactly like a success, so the answer never tells whether a person is known.

The unsubscribe page's button, sent by a browser with a Global Privacy Control signal, also opts
the person out of every `sale_or_sharing` topic in the same transaction (`unsubscribe_page`,
`consent.gpc.honour_gpc`). The RFC 8058 one-click POST is a mail client's request, not the
person's browser: a GPC header on it is not the person's signal and is not acted on.
"""

from __future__ import annotations

import logging

from service.consent.choice import apply_choice
from service.consent.gpc import GpcOptOut, honour_gpc
from service.consent.ledger import Proof
from service.consent.pace import set_pace
from service.contacts.store import contact_addresses
from service.db.tables import WHOLE_CHANNEL
from service.db.tenant_db import TenantDb
from service.runtime import Runtime
from service.security.tokens import ALL_TOPICS, TokenData
from service.topics.cache import FREQUENCIES, TopicInfo
from service.unsubscribe import queries as q

log = logging.getLogger("service.unsubscribe")
UNDO_WORDING = "unsubscribe-undo-v1"  # the undo button's text, recorded with the re-subscription
FEWER_WORDING = "unsubscribe-fewer-v1"  # the "fewer instead" choice's text, in the ledger


async def what_stops(rt: Runtime, data: TokenData) -> dict:
    """What the link (or printed code) stops, for the pages: the topic's name, or the whole
    channel."""
    topic_name = None
    fewer: tuple[str, ...] = ()
    if data.topic != ALL_TOPICS:
        info = await rt.topics.get(rt.db, data.topic)
        topic_name = info.name if info is not None else data.topic
        fewer = fewer_choices(info)
    return {"channel": data.channel, "topic_name": topic_name, "fewer": fewer}


def fewer_choices(topic: TopicInfo | None) -> tuple[str, ...]:
    """The "fewer instead" choices of a topic's unsubscribe page: its frequencies other than
    immediate (none for a transactional topic, which is never limited)."""
    if topic is None or topic.transactional:
        return ()
    return tuple(f for f in FREQUENCIES if f != "immediate" and f in topic.frequencies)


async def fewer(db: TenantDb, data: TokenData, frequency: str, proof: Proof) -> bool:
    """The page's "fewer instead": the person's frequency for the token's topic, a ledger
    event (consent.pace.set_pace); True when it changed. An erased contact writes nothing."""
    async with db.transaction() as tx:
        await tx.lock_feed()
        rows = await contact_addresses(tx, data.contact_id, data.channel)
        if rows is None:
            return False
        keys = [row[1] for row in rows]
        changed = await set_pace(tx, contact_id=data.contact_id, channel=data.channel,
                                 topic=data.topic_or_none, frequency=frequency, proof=proof,
                                 address_key=keys[0] if len(keys) == 1 else None)
    log.info("fewer instead on %s: %s", data.channel, "applied" if changed else "in place")
    return changed


async def already_unsubscribed(db: TenantDb, data: TokenData) -> bool:
    topic = data.topic_or_none or WHOLE_CHANNEL
    row = await db.fetchrow(q.DONE_SQL, data.contact_id, data.channel, topic)
    return row is not None and row[0] == "opted_out" and row[1] == 0


async def unsubscribe(db: TenantDb, data: TokenData, proof: Proof) -> bool:
    """Apply the token's unsubscribe; True when anything changed. Committed on return."""
    if await already_unsubscribed(db, data):
        return False  # a repeat: nothing to write, no write lock taken
    topic = data.topic_or_none
    async with db.transaction() as tx:
        await tx.lock_feed()
        # The contact and its addresses on the channel in one statement.
        rows = await contact_addresses(tx, data.contact_id, data.channel)
        if rows is None:
            return False  # erased or never existed: nothing to write, same answer
        keys = [row[1] for row in rows]
        changed = await apply_choice(tx, stop=True, contact_id=data.contact_id,
                                     channel=data.channel, topic=topic, address_keys=keys,
                                     proof=proof)
    log.info("unsubscribe via %s on %s (%s): %s", proof.source, data.channel,
             "whole channel" if topic is None else "one topic",
             "applied" if changed else "already in place")
    return bool(changed)


async def unsubscribe_page(db: TenantDb, data: TokenData, proof: Proof, *,
                           gpc_topics: dict[str, TopicInfo] | None) -> list[GpcOptOut]:
    """The page's button: the token's unsubscribe and, with a GPC signal (`gpc_topics`, every
    topic; None without a signal), the opt-out of every sale_or_sharing topic, in one
    transaction. What the signal switched off."""
    if gpc_topics is None:
        await unsubscribe(db, data, proof)
        return []
    async with db.transaction() as tx:
        await tx.lock_feed()
        rows = await contact_addresses(tx, data.contact_id, data.channel)
        if rows is None:
            return []  # erased or never existed: nothing to write, same answer
        await apply_choice(tx, stop=True, contact_id=data.contact_id, channel=data.channel,
                           topic=data.topic_or_none, address_keys=[row[1] for row in rows],
                           proof=proof)
        return await honour_gpc(tx, gpc_topics, data.contact_id, proof)


async def undo(db: TenantDb, data: TokenData, proof: Proof) -> bool:
    """Re-subscribe after an unsubscribe by the same token; True when anything changed.

    Only when the contact is opted out of the token's (channel, topic): lifts the `unsubscribed`
    suppressions of the contact's addresses on that channel and topic (never other reasons), and
    records `opt_in` with the undo button's wording, the person's explicit request to receive it
    again. Otherwise nothing is written (repeats are harmless).
    """
    topic = data.topic_or_none
    async with db.transaction() as tx:
        await tx.lock_feed()
        status = await tx.fetchval(q.STATUS_SQL, data.contact_id, data.channel,
                                   topic or WHOLE_CHANNEL)
        if status != "opted_out":
            return False
        changed = await apply_choice(tx, stop=False, contact_id=data.contact_id,
                                     channel=data.channel, topic=topic, proof=proof)
    log.info("unsubscribe undone on %s (%s)", data.channel,
             "whole channel" if topic is None else "one topic")
    return bool(changed)
