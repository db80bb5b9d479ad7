"""Many consent changes at once, in the caller's transaction: the bulk forms of
`consent.ledger.set_preference` (`set_preferences`) and of `consent.choice.apply_choice`
(`apply_choices`), for imports and other bulk writers.

`set_preferences` follows the rules of `set_preference` applied once per change, in order:
- no event when the preference already is what the change asks for;
- a pause keeps the status, a status keeps the pause; a resume of nothing writes nothing;
- each real change writes one ledger event (`consent_event`), one change-feed row (kind
  `preference`, op `updated`) and leaves the preference with that feed row's `seq`.
One more rule, asked for by a change (`unless_newer`, the importer's): a change whose
`occurred_at` is older than the preference held is skipped (STALE), so an old list never
undoes a newer decision.

`apply_choices` adds what `apply_choice` adds, so an imported opt-out reaches a mailer that
mirrors `GET /v1/suppressions`: every stop (`opt_out`) that is not STALE adds an `unsubscribed`
suppression of (channel, topic) to each address concerned, every resume (`opt_in`,
`confirmed`) lifts exactly those; other reasons are never touched. Like `apply_choice` it does
so even when the preference was already so (a repeat writes nothing new). Within one call only
the last stop or resume of an address counts: a stop then a resume of the same (channel, topic,
address) leaves no suppression and no feed row for it, where one by one they would leave an
added and a removed row; the result after the commit, the only one a reader sees, is the same.

Set-based: one keyed look-up of the preferences held, the rules in Python (a later change of
the same preference sees the earlier one), then multi-row writes; the suppressions through
`suppression.store.add_suppressions` / `remove_suppressions`, one call per (channel, topic).
On SQLite the caller holds the write lock, so the feed rows inserted after `MAX(seq)` get the
next numbers in order. On PostgreSQL the changes are copied (`COPY`) into a temporary table and
one `INSERT … SELECT` writes the events, the feed rows (`RETURNING seq`) and the preferences.
Every event is sealed in its contact's hash chain (consent/chain.py) in Python, after one
keyed read of the chain heads concerned, in the order the events are inserted.
Keep batches to what one short transaction writes (service.db.batches.TimedBatches). The
statements are in service/consent/queries.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from service.consent import queries as q
from service.consent.chain import Heads
from service.consent.choice import REASON, RESUME_ACTIONS, STOP_ACTIONS
from service.consent.ledger import ACTIONS, STATUS_AFTER, Proof, Tx, chain_heads, sealed_event
from service.db.keys import rows_arg
from service.ops.counters import UNSUBSCRIBES
from service.suppression.store import add_suppressions, remove_suppressions

CHANGED, UNCHANGED, STALE = "changed", "unchanged", "stale"
CHOICES = STOP_ACTIONS + RESUME_ACTIONS


@dataclass(slots=True)
class Change:
    """One action on (contact, channel, topic); topic `''` (WHOLE_CHANNEL) is the channel."""

    contact_id: str
    channel: str
    topic: str
    action: str
    proof: Proof
    paused_until: datetime | None = None  # for action "paused"
    address_key: str | None = None  # named on the event and the feed row
    occurred_at: datetime | None = None  # the event's time; None: now
    unless_newer: bool = False  # STALE when the preference held changed after occurred_at
    # A stop's or resume's addresses, whose `unsubscribed` suppression it adds or lifts;
    # None: every address the contact holds on the channel (as apply_choice), looked up.
    address_keys: Sequence[str] | None = None


def db_time(engine: str, value: datetime | None) -> Any:
    """A time as the driver is given it. SQLite: converted here by the adapter that converts
    every datetime parameter (so the text is the same as any other write's), which lets a
    batch convert its one `now` once rather than once per row and column."""
    if engine != "sqlite" or value is None:
        return value
    adapt = sqlite3.adapters.get((datetime, sqlite3.PrepareProtocol))
    return adapt(value) if adapt is not None else value


async def held_preferences(tx: Tx, keys: Collection[tuple[str, str, str]]) -> dict:
    """(contact_id, channel, topic) -> (status, paused_until, updated_at) of those held."""
    if not keys:
        return {}
    rows = await tx.fetch(q.many_held_sql(tx.engine), *rows_arg(tx.engine, list(keys), 3))
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}


async def addresses_held(tx: Tx, keys: Collection[tuple[str, str]]) -> dict:
    """(contact_id, channel) -> the address keys that contact holds on that channel, for
    those holding any: the bulk form of `contacts.store.addresses_of`."""
    held: dict[tuple[str, str], list[str]] = {}
    if keys:
        for r in await tx.fetch(q.many_addresses_sql(tx.engine),
                                *rows_arg(tx.engine, list(keys), 2)):
            held.setdefault((r[0], r[1]), []).append(r[2])
    return held


async def apply_choices(tx: Tx, changes: Sequence[Change], *, fresh: Collection[str] = (),
                        now: datetime | None = None) -> list[str]:
    """`set_preferences`, then the `unsubscribed` suppressions its stops and resumes add or
    lift (the module's docstring); for each change, CHANGED, UNCHANGED or STALE."""
    now = now or datetime.now(UTC)
    outcomes = await set_preferences(tx, changes, fresh=fresh, now=now)
    choices = [c for c, outcome in zip(changes, outcomes, strict=True)
               if outcome != STALE and c.action in CHOICES]
    if not choices:
        return outcomes
    held = await addresses_held(tx, {(c.contact_id, c.channel) for c in choices
                                     if c.address_keys is None})
    last: dict[tuple[str, str, str], tuple[bool, str]] = {}  # (channel, topic, key): the last
    for c in choices:
        keys = held.get((c.contact_id, c.channel), ()) if c.address_keys is None \
            else c.address_keys
        for key in keys:
            last[(c.channel, c.topic, key)] = (c.action in STOP_ACTIONS, c.proof.source)
    groups: dict[tuple[str, str, bool, str], list[str]] = {}
    for (channel, topic, key), (stop, source) in last.items():
        groups.setdefault((channel, topic, stop, source), []).append(key)
    for (channel, topic, stop, source), keys in groups.items():
        write = add_suppressions if stop else remove_suppressions
        await write(tx, channel=channel, address_keys=keys, reason=REASON, source=source,
                    topic=topic, now=now)
    return outcomes


# A change to write: (change, at, status after it, paused_until after it, feed value, detail)
_Write = tuple


async def set_preferences(tx: Tx, changes: Sequence[Change], *, fresh: Collection[str] = (),
                          now: datetime | None = None) -> list[str]:
    """Apply the changes' preferences in order; for each, CHANGED, UNCHANGED or STALE.

    `fresh`: contact ids created in this transaction (they hold no preference, so they are not
    looked up)."""
    for c in changes:
        if c.action not in ACTIONS:
            raise ValueError(f"unknown action {c.action!r}")
    if not changes:
        return []
    now = now or datetime.now(UTC)
    await tx.lock_feed()  # before reading: no other consent writer between look-up and write
    fresh = set(fresh)
    state = await held_preferences(tx, {
        (c.contact_id, c.channel, c.topic) for c in changes if c.contact_id not in fresh})
    outcomes: list[str] = []
    writes: list[_Write] = []
    opt_outs: Counter[str] = Counter()
    for c in changes:
        key = (c.contact_id, c.channel, c.topic)
        current = state.get(key)
        action = c.action
        if (c.unless_newer and c.occurred_at is not None and current is not None
                and current[2] > c.occurred_at):
            outcomes.append(STALE)
            continue
        if action == "paused" or action == "resumed":
            until = c.paused_until if action == "paused" else None
            status = current[0] if current is not None else "none"
            same = current[1] == until if current is not None else action == "resumed"
        else:
            status = STATUS_AFTER[action]
            until = current[1] if current is not None else None
            same = current is not None and current[0] == status
        if same:
            outcomes.append(UNCHANGED)
            continue
        at = c.occurred_at or now
        if action == "paused":
            writes.append((c, at, status, until, "paused",
                           json.dumps({"paused_until": until.isoformat()}) if until else None))
        else:
            writes.append((c, at, status, until, status, None))
            if action == "opt_out":
                opt_outs[c.proof.source] += 1
        state[key] = (status, until, at)
        outcomes.append(CHANGED)
    if writes:
        # The chain heads of the contacts written to (a contact created in this transaction
        # has no event yet): every event is sealed in Python, in the order it is inserted.
        heads = await chain_heads(tx, {w[0].contact_id for w in writes} - fresh)
        if tx.engine == "sqlite":
            await _write_sqlite(tx, writes, now, heads)
        else:
            await _write_postgres(tx, writes, heads)
        for source, count in opt_outs.items():  # counted once committed
            tx.after_commit(partial(UNSUBSCRIBES.labels(source).inc, count))
    return outcomes


def _event(heads: Heads, c: Change, at: datetime, detail: str | None,
           stored_at: Any = None) -> tuple:
    return sealed_event(heads, contact_id=c.contact_id, address_key=c.address_key,
                        channel=c.channel, topic=c.topic, action=c.action, proof=c.proof, at=at,
                        detail=detail, stored_at=stored_at)


async def _write_sqlite(tx: Tx, writes: list[_Write], now: datetime, heads: Heads) -> None:
    # We hold the only write lock: the feed rows get MAX(seq) + 1, + 2, ... in insert order
    # (seq is the rowid, no AUTOINCREMENT), as suppression.store.add_suppressions relies on.
    before = await tx.fetchval(q.MANY_LAST_SEQ)
    now_text = db_time("sqlite", now)
    events, feed = [], []
    last: dict[tuple, tuple] = {}  # one upsert per preference: its last state and feed row
    for seq, (c, at, status, until, value, detail) in enumerate(writes, before + 1):
        stored = now_text if at is now else db_time("sqlite", at)  # the hash takes `at`
        events.append(_event(heads, c, at, detail, stored))
        feed.append((c.channel, c.address_key, c.topic, c.contact_id, value, c.proof.source,
                     stored))
        last[(c.contact_id, c.channel, c.topic)] = (
            c.contact_id, c.channel, c.topic, status, db_time("sqlite", until), stored, seq)
    await tx.executemany(q.MANY_INSERT_EVENT, events)
    await tx.executemany(q.MANY_INSERT_FEED, feed)
    await tx.executemany(q.UPSERT_PREFERENCE, list(last.values()))


async def _write_postgres(tx: Tx, writes: list[_Write], heads: Heads) -> None:
    final: dict[tuple, int] = {}
    for i, (c, *_) in enumerate(writes):
        final[(c.contact_id, c.channel, c.topic)] = i
    last = set(final.values())
    records = [(i, *_event(heads, c, at, detail), value, status, until, i in last)
               for i, (c, at, status, until, value, detail) in enumerate(writes)]
    await tx.copy_to_temp(q.MANY_TEMP_TABLE, q.MANY_TEMP_DEFINITION, records,
                          q.MANY_TEMP_COLUMNS)
    await tx.execute(q.PG_MANY_APPLY)
