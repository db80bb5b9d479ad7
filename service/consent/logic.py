"""Preferences and the ledger view of one contact. Plain async functions.

Opting in or out is a person's choice to resume or stop, written by `consent.choice
.apply_choice` as for every other source, so an opt-out through the API also adds the
`unsubscribed` suppression of each of the contact's addresses on that channel (a mailer that
mirrors `GET /v1/suppressions` sees it) and an opt-in lifts exactly those. Pauses go through
`consent.ledger.set_preference`. All changes of one request run in the caller's transaction;
every input is checked (`plan_changes`) before the transaction starts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.consent import queries as q
from service.consent.choice import apply_choice
from service.consent.ledger import Proof, Tx, set_preference
from service.consent.pace import ACTION as PACE_ACTION
from service.consent.pace import NO_LIMIT, set_pace
from service.contacts.logic import check_contact_id
from service.contacts.store import contact_addresses, contact_exists
from service.cursors import decode_cursor, encode_cursor
from service.db.engine import Database
from service.errors import InputError, NotFound
from service.topics.cache import TopicCache

ACTION_FOR_STATUS = {"opted_in": "opt_in", "opted_out": "opt_out"}


@dataclass(frozen=True, slots=True)
class Change:
    channel: str
    topic: str | None
    action: str
    paused_until: datetime | None = None
    pace: str | int | None = None  # action `frequency`: the frequency or the weekly cap


async def check_topic(db: Database, topics: TopicCache, channel: str, key: str | None,
                      field: str) -> None:
    """InputError unless `key` is None (whole channel) or a live topic sent on `channel`."""
    if key is None:
        return
    topic = await topics.get(db, key)
    if topic is None:
        raise InputError(field, f"unknown topic {key!r}")
    if topic.archived:
        raise InputError(field, f"topic {key!r} is archived")
    if channel not in topic.channels:
        raise InputError(field, f"topic {key!r} is not sent on {channel} "
                                f"(its channels: {', '.join(topic.channels)})")


async def plan_changes(db: Database, topics: TopicCache, items: Sequence[Any],
                       now: datetime) -> list[Change]:
    """The ledger actions a PUT asks for, in order; InputError naming the first bad item."""
    changes: list[Change] = []
    seen: set[tuple[str, str | None]] = set()
    for i, item in enumerate(items):
        prefix = f"preferences[{i}]"
        await check_topic(db, topics, item.channel, item.topic, f"{prefix}.topic")
        if (item.channel, item.topic) in seen:
            raise InputError(prefix, "this channel and topic appear twice in the request")
        seen.add((item.channel, item.topic))
        pause_given = "paused_until" in item.model_fields_set
        pace = await _plan_pace(db, topics, item, prefix)
        if item.status is None and not pause_given and pace is None:
            raise InputError(prefix, "give status, paused_until (a time) or paused_until: null,"
                                     " frequency (a topic) or max_per_week (a whole channel)")
        if item.status is not None:
            changes.append(Change(item.channel, item.topic, ACTION_FOR_STATUS[item.status]))
        if pause_given:
            until = item.paused_until
            if until is not None and until <= now:
                raise InputError(f"{prefix}.paused_until",
                                 "must be in the future; send null to resume")
            changes.append(Change(item.channel, item.topic, "paused" if until else "resumed",
                                  until.astimezone(UTC) if until else None))
        if pace is not None:
            changes.append(pace)
    return changes


async def _plan_pace(db: Database, topics: TopicCache, item: Any, prefix: str) -> Change | None:
    """The pace an item asks for (`frequency` on a topic, `max_per_week` on a whole channel),
    or None; InputError naming the field that cannot be applied."""
    given = item.model_fields_set
    if "frequency" in given:
        if item.topic is None:
            raise InputError(f"{prefix}.frequency", "applies to a topic; a whole channel "
                             "takes max_per_week")
        if item.frequency is None:
            raise InputError(f"{prefix}.frequency", f"give one of the topic's frequencies "
                             f"({NO_LIMIT!r}: no limit)")
        topic = await topics.get(db, item.topic)
        offered = topic.frequencies if topic is not None else ()
        if item.frequency != NO_LIMIT and item.frequency not in offered:
            raise InputError(f"{prefix}.frequency", f"topic {item.topic!r} offers "
                             f"{', '.join(offered)}, not {item.frequency!r}")
        return Change(item.channel, item.topic, PACE_ACTION, pace=item.frequency)
    if "max_per_week" in given:
        if item.topic is not None:
            raise InputError(f"{prefix}.max_per_week", "applies to a whole-channel item "
                             "(topic null); a topic takes frequency")
        return Change(item.channel, None, PACE_ACTION, pace=item.max_per_week)
    return None


async def apply_changes(tx: Tx, contact_id: str, changes: Sequence[Change], proof: Proof,
                        now: datetime | None = None) -> int:
    """Write the changes with their ledger events; the number that changed anything (an
    opt-out whose preference was already recorded but whose suppression was missing counts)."""
    check_contact_id(contact_id)
    rows = await contact_addresses(tx, contact_id)
    if rows is None:
        raise NotFound("contact_id", "no contact with this id")
    keys: dict[str, list[str]] = {}
    for channel, address_key in rows:
        keys.setdefault(channel, []).append(address_key)
    changed = 0
    for c in changes:
        on_channel = keys.get(c.channel, [])
        if c.action in ("opt_in", "opt_out"):
            changed += bool(await apply_choice(
                tx, stop=c.action == "opt_out", contact_id=contact_id, channel=c.channel,
                topic=c.topic, address_keys=on_channel, proof=proof, now=now))
            continue
        if c.action == PACE_ACTION:
            changed += await set_pace(
                tx, contact_id=contact_id, channel=c.channel, topic=c.topic, proof=proof,
                frequency=c.pace if c.topic else None,
                max_per_week=None if c.topic else c.pace,
                address_key=on_channel[0] if len(on_channel) == 1 else None, now=now)
            continue
        # the ledger names the address when the contact has exactly one on that channel
        changed += await set_preference(
            tx, contact_id=contact_id, channel=c.channel, topic=c.topic, action=c.action,
            proof=proof, paused_until=c.paused_until,
            address_key=on_channel[0] if len(on_channel) == 1 else None, now=now)
    return changed


async def save_changes(db: Database, contact_id: str, changes: Sequence[Change], proof: Proof,
                       now: datetime) -> tuple[int, list[dict]]:
    """`PUT /v1/contacts/{id}/preferences`: apply the planned changes in one transaction and
    read the preferences back inside it, so the answer shows exactly what was committed;
    (changes made, preferences)."""
    async with db.transaction() as tx:
        changed = await apply_changes(tx, contact_id, changes, proof, now)
        return changed, await preferences_of(tx, contact_id)


async def preferences_of(db_or_tx: Any, contact_id: str) -> list[dict]:
    rows = await db_or_tx.fetch(q.PREFERENCES_OF, contact_id)
    return [{"channel": r["channel"], "topic": r["topic"] or None, "status": r["status"],
             "paused_until": r["paused_until"], "updated_at": r["updated_at"],
             "frequency": r["frequency"], "max_per_week": r["max_per_week"]} for r in rows]


# -- the ledger view -------------------------------------------------------------------------
def _event_id(position: bytes) -> int:
    """A ledger cursor's position: `v1:<event id>`."""
    version, _, value = position.decode().partition(":")
    if version != "v1" or not value.isdigit() or len(value) > 18:
        raise ValueError(position)
    return int(value)


async def events_page(db: Database, contact_id: str, cursor: str | None,
                      limit: int) -> tuple[list[dict], str | None]:
    """One page of the contact's ledger, newest first, and the cursor of the next page.

    The ledger outlives an erased contact, so a contact id with events but no contact row
    still answers; 404 only when there is neither."""
    check_contact_id(contact_id)
    before = decode_cursor(cursor, "cursor", _event_id) if cursor else None
    if before is None:
        rows = await db.fetch(q.EVENTS_FIRST, contact_id, limit + 1)
    else:
        rows = await db.fetch(q.EVENTS_BEFORE, contact_id, limit + 1, before)
    if not rows and before is None and not await contact_exists(db, contact_id):
        raise NotFound("contact_id", "no contact with this id")
    events = [_event(r) for r in rows[:limit]]
    next_cursor = encode_cursor(f"v1:{events[-1]['id']}".encode()) if len(rows) > limit else None
    return events, next_cursor


def _event(r: Any) -> dict:
    detail = r["detail"]
    if isinstance(detail, str):
        detail = json.loads(detail)
    return {"id": r["id"], "channel": r["channel"], "topic": r["topic"] or None,
            "action": r["action"], "source": r["source"], "occurred_at": r["occurred_at"],
            "ip": r["ip"], "user_agent": r["user_agent"],
            "wording_version": r["wording_version"], "campaign": r["campaign"],
            "message_ref": r["message_ref"], "api_key_id": r["api_key_id"], "detail": detail}

