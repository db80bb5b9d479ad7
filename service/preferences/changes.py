"""Opting in and out of a topic (or a whole channel), consistently with the suppression list.

The same semantics as the one-click unsubscribe: opting out of (channel, topic) records the
preference `opted_out` in the ledger and adds an `unsubscribed` suppression for each of the
contact's addresses on that channel; opting back in records `opt_in` (or `confirmed` for a
double opt-in) and lifts exactly those `unsubscribed` suppressions. Suppressions for other
reasons (complaint, hard_bounce, erased, ...) are never lifted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service.consent.ledger import Proof, Tx, set_preference
from service.suppression.store import add_suppression, remove_suppression


async def opt_out(
    tx: Tx, *, contact_id: str, channel: str, topic: str | None, address_keys: Sequence[str],
    proof: Proof, now: datetime,
) -> bool:
    """Opt out of `topic` (None: the whole channel); True when anything changed."""
    changed = await set_preference(tx, contact_id=contact_id, channel=channel, topic=topic,
                                   action="opt_out", proof=proof, now=now)
    for key in address_keys:
        changed |= await add_suppression(tx, channel=channel, address_key=key,
                                         reason="unsubscribed", source=proof.source,
                                         topic=topic, contact_id=contact_id, now=now)
    return changed


async def opt_in(
    tx: Tx, *, contact_id: str, channel: str, topic: str | None, address_keys: Sequence[str],
    proof: Proof, now: datetime, action: str = "opt_in",
) -> bool:
    """Opt back in (`opt_in`, or `confirmed` after a double opt-in) and lift the matching
    `unsubscribed` suppressions; True when anything changed."""
    changed = await set_preference(tx, contact_id=contact_id, channel=channel, topic=topic,
                                   action=action, proof=proof, now=now)
    for key in address_keys:
        changed |= await remove_suppression(tx, channel=channel, address_key=key,
                                            reason="unsubscribed", source=proof.source,
                                            topic=topic, now=now)
    return changed


async def pause(
    tx: Tx, *, contact_id: str, channel: str, until: datetime | None, proof: Proof,
    now: datetime,
) -> bool:
    """Pause all marketing on a channel until `until`; None resumes it."""
    return await set_preference(tx, contact_id=contact_id, channel=channel, topic=None,
                                action="paused" if until else "resumed", paused_until=until,
                                proof=proof, now=now)
