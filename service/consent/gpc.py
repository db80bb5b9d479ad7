"""Honouring a Global Privacy Control signal: opt a person out of every topic whose data is
sold or shared (`sale_or_sharing`), in the transaction of the form that carried the signal.

Which topics: every current (not archived), non-transactional `sale_or_sharing` topic on each
channel the person has an address on, whether or not they ever had a preference for it: an
explicit `opted_out` record, with its ledger event (source `gpc`), is the proof that the signal
was honoured. Each opt-out is a person's choice applied by `consent.choice.apply_choice`, so
the `unsubscribed` suppressions and the change feed follow; one already in place writes nothing.

The signal applies on every submission that carries it, even when the same form switched such a
topic on: the signal is a standing do-not-sell/share request from that browser (CCPA regs
§ 7025(c)(1), (c)(3)), and the pages say so beside those topics.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from service.consent.choice import apply_choice
from service.consent.ledger import Proof, Tx
from service.contacts.store import addresses_of
from service.topics.cache import TopicInfo

SOURCE = "gpc"


@dataclass(frozen=True, slots=True)
class GpcOptOut:
    """One (channel, topic) the signal switched off."""

    channel: str
    topic: TopicInfo


def gpc_topics(topics: dict[str, TopicInfo], channel: str) -> list[TopicInfo]:
    """The topics of `channel` a GPC signal opts out of."""
    return [t for t in topics.values() if t.sale_or_sharing and not t.archived
            and not t.transactional and channel in t.channels]


async def honour_gpc(tx: Tx, topics: dict[str, TopicInfo], contact_id: str, proof: Proof,
                     now: datetime | None = None) -> list[GpcOptOut]:
    """Opt `contact_id` out of every sale_or_sharing topic on each channel they hold, with
    source `gpc` (the rest of `proof`, IP, user agent, campaign, is the form's); what changed."""
    now = now or datetime.now(UTC)
    gpc_proof = replace(proof, source=SOURCE)
    detail = {"signal": "Sec-GPC: 1", "form": proof.source}
    held: dict[str, list[str]] = {}
    for row in await addresses_of(tx, contact_id):
        held.setdefault(row["channel"], []).append(row["address_key"])
    changed = []
    for channel, keys in held.items():
        for topic in gpc_topics(topics, channel):
            if await apply_choice(tx, stop=True, contact_id=contact_id, channel=channel,
                                  topic=topic.key, address_keys=keys, proof=gpc_proof,
                                  detail=detail, now=now):
                changed.append(GpcOptOut(channel, topic))
    return changed
