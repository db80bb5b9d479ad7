"""Objection to direct marketing (GDPR art. 21(2)-(3)): one step that stops all marketing.

Recorded as ONE ledger event, action `objected` on channel "*" (the contact as a whole, as a
restriction without addresses is), with the source of the request (`api`, `admin`,
`preference_centre`). Then, on each channel the person has an address on, a whole-channel
opt-out through `consent.choice.apply_choice` (preference, ledger event, `unsubscribed`
suppressions, change feed) with source `objection` and detail {"objection": <event id>}, so
the proof links every opt-out to the objection. Transactional topics go on: the send decision
lets them past soft suppressions and opt-outs (consent/decision.py, rules 3 and 4).

Idempotent: when an objection is on record and every channel is already switched off (the
preference and the suppression of each address), nothing is written. An objection made after
the person switched a channel back on is a new objection and is recorded again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from service.consent import queries as q
from service.consent.choice import REASON, apply_choice
from service.consent.decision import lookup_state
from service.consent.ledger import Proof, Tx, record_event
from service.contacts.store import addresses_of
from service.db.tables import WHOLE_CHANNEL

ACTION = "objected"
SOURCE = "objection"  # the source of the opt-outs an objection writes
ALL_CHANNELS = "*"


@dataclass(frozen=True, slots=True)
class Objection:
    """What an objection request did."""

    event_id: int  # the `objected` ledger event (the earlier one when nothing was new)
    recorded: bool  # a new objection was written
    channels: list[str] = field(default_factory=list)  # channels switched off by it


async def _stopped(tx: Tx, contact_id: str, channel: str, keys: list[str]) -> bool:
    """The whole channel is opted out and every address carries its suppression."""
    pref = await tx.fetchrow(q.PREFERENCE, contact_id, channel, WHOLE_CHANNEL)
    if pref is None or pref["status"] != "opted_out":
        return False
    for key in keys:
        state = await lookup_state(tx, channel, key)
        if (WHOLE_CHANNEL, REASON) not in state.suppressions:
            return False
    return True


async def object_to_marketing(tx: Tx, contact_id: str, proof: Proof,
                              now: datetime | None = None) -> Objection:
    """Record the objection of an existing contact and stop marketing on every channel it
    holds, in the caller's transaction."""
    now = now or datetime.now(UTC)
    await tx.lock_feed()  # one objection at a time per database, like every consent write
    held: dict[str, list[str]] = {}
    for row in await addresses_of(tx, contact_id):
        held.setdefault(row["channel"], []).append(row["address_key"])
    open_channels = [ch for ch, keys in held.items()
                     if not await _stopped(tx, contact_id, ch, keys)]
    prior = await tx.fetchval(q.LATEST_OBJECTION, contact_id)
    if prior is not None and not open_channels:
        return Objection(event_id=prior, recorded=False)
    event_id = await record_event(tx, contact_id=contact_id, channel=ALL_CHANNELS, topic=None,
                                  action=ACTION, proof=proof,
                                  detail={"channels": sorted(held)}, now=now)
    stop_proof = replace(proof, source=SOURCE)
    changed = []
    for channel, keys in held.items():
        if await apply_choice(tx, stop=True, contact_id=contact_id, channel=channel, topic=None,
                              address_keys=keys, proof=stop_proof,
                              detail={"objection": event_id}, now=now):
            changed.append(channel)
    return Objection(event_id=event_id, recorded=True, channels=changed)
