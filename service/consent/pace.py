"""A person's pace (issue 17): how often a topic may come, and a weekly cap on a channel.

Stored on the person's preference row (`frequency` on a topic's row, `max_per_week` on the
whole-channel row; NULL: none chosen), so the send decision reads it in its one state query
(consent/queries.py, rule 7 of consent/decision.py). Each real change is a ledger event
(action `frequency`, detail `{"frequency": "weekly"}` or `{"max_per_week": 2}`; null when
cleared) and a change-feed row (kind `preference`, value: the preference's status, which a
pace does not change), in the caller's transaction, under the feed lock. Choosing
`immediate` clears the frequency. A pace never changes the opt-in status or lifts anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from service.consent import queries as q
from service.consent.ledger import Proof, Tx, record_change, record_event
from service.db.tables import WHOLE_CHANNEL

ACTION = "frequency"
NO_LIMIT = "immediate"  # stored as NULL: the state query then never reads the sends
MAX_PER_WEEK = 100  # a larger cap is no cap a person would notice


async def set_pace(
    tx: Tx, *, contact_id: str, channel: str, topic: str | None, proof: Proof,
    frequency: str | None = None, max_per_week: int | None = None,
    address_key: str | None = None, now: datetime | None = None,
) -> bool:
    """Set the frequency of (contact, channel, topic) — `topic` a key — or, with `topic` None,
    the weekly cap of the whole channel (`max_per_week`, None clears it). False, writing
    nothing, when that is already the person's choice."""
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    if topic_value == WHOLE_CHANNEL:
        detail = {"max_per_week": max_per_week}
    else:
        frequency = None if frequency in (None, NO_LIMIT) else frequency
        detail = {"frequency": frequency or NO_LIMIT}
    await tx.lock_feed()
    current = await tx.fetchrow(q.PACE, contact_id, channel, topic_value)
    old_frequency = current["frequency"] if current else None
    old_cap = current["max_per_week"] if current else None
    if topic_value == WHOLE_CHANNEL:
        if old_cap == max_per_week:
            return False
        frequency = old_frequency
    else:
        if old_frequency == frequency:
            return False
        max_per_week = old_cap
    status = current["status"] if current else "none"
    await record_event(tx, contact_id=contact_id, channel=channel, topic=topic_value,
                       action=ACTION, proof=proof, address_key=address_key, detail=detail,
                       now=now)
    seq = await record_change(tx, kind="preference", op="updated", channel=channel,
                              address_key=address_key, topic=topic_value, contact_id=contact_id,
                              value=status, source=proof.source, now=now)
    await tx.execute(q.UPSERT_PACE, contact_id, channel, topic_value, frequency, max_per_week,
                     now, seq)
    return True
