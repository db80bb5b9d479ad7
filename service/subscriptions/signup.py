"""`POST /v1/subscriptions`: a sign-up from a form, waiting for the person's confirmation."""

from __future__ import annotations

from datetime import datetime

from service.consent.decision import lookup_state
from service.consent.gpc import gpc_topics, honour_gpc
from service.consent.ledger import SOURCES, Proof
from service.contacts.normalize import AddressError
from service.contacts.store import ensure_contact_for_address
from service.errors import InputError
from service.runtime import Runtime
from service.subscriptions import queries as q
from service.subscriptions.logic import mark_pending, queue_confirmation, undeliverable
from service.subscriptions.schemas import SubscriptionIn, SubscriptionOut
from service.topics.cache import TopicInfo


async def wanted_topics(rt: Runtime, channel: str, keys: list[str]) -> list[TopicInfo]:
    """The requested topics, each checked: known, not archived, on the channel, needing
    consent (a transactional topic needs none)."""
    topics = await rt.topics.all(rt.db)
    wanted: list[TopicInfo] = []
    for key in dict.fromkeys(keys):
        topic = topics.get(key) or await rt.topics.get(rt.db, key)
        if topic is None:
            raise InputError("topics", f"unknown topic {key!r}")
        if topic.archived:
            raise InputError("topics", f"topic {key!r} is archived")
        if channel not in topic.channels:
            raise InputError("topics", f"topic {key!r} is not sent by {channel}")
        if topic.transactional:
            raise InputError("topics", f"topic {key!r} is transactional and needs no sign-up")
        wanted.append(topic)
    return wanted


async def subscribe(rt: Runtime, data: SubscriptionIn, api_key_id: int | None,
                    now: datetime) -> SubscriptionOut:
    """Record a pending consent per topic and queue the confirmation email, in one
    transaction. Bad input raises InputError before anything is written."""
    if data.source not in SOURCES:
        raise InputError("source", f"unknown source; use one of {', '.join(SOURCES)}")
    try:
        normalized, key = rt.parse_address(data.channel, data.address)
    except AddressError as exc:
        raise InputError("address", str(exc)) from None
    wanted = await wanted_topics(rt, data.channel, data.topics)
    topics = await rt.topics.all(rt.db)
    lang = data.lang if data.lang else rt.settings.default_language
    proof = Proof(source=data.source, ip=str(data.ip) if data.ip else None,
                  user_agent=data.user_agent, wording_version=data.wording_version,
                  api_key_id=api_key_id)
    async with rt.db.transaction() as tx:
        contact_id, _ = await ensure_contact_for_address(
            tx, channel=data.channel, normalized=normalized, address_key=key,
            given=data.address.strip(), now=now)
        address_id = await tx.fetchval(q.ADDRESS_ID, data.channel, key)
        if data.gpc:  # the signal wins: no sale_or_sharing topic becomes pending
            wanted = [t for t in wanted if not t.sale_or_sharing]
        pending, already = await mark_pending(tx, contact_id=contact_id, channel=data.channel,
                                              address_key=key, wanted=wanted, proof=proof,
                                              now=now)
        gpc_off = []
        if data.gpc:
            await honour_gpc(tx, topics, contact_id, proof, now)
            gpc_off = [t.key for t in gpc_topics(topics, data.channel)]
        outcome = "not_needed"
        if pending:
            outcome = "queued"
            if undeliverable(await lookup_state(tx, data.channel, key)):
                outcome = "undeliverable"
            else:
                await queue_confirmation(rt, tx, topics, contact_id=contact_id,
                                         address_id=address_id, to=normalized, address_key=key,
                                         lang=lang, now=now)
    return SubscriptionOut(contact_id=contact_id, channel=data.channel, address=normalized,
                           pending=pending, already_subscribed=already,
                           opted_out_by_gpc=gpc_off, confirmation_email=outcome)
