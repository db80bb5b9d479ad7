"""Many consent changes at once, in the caller's transaction: the bulk form of
`consent.ledger.set_preference`, for imports and other bulk writers.

The same rules and the same rows as `set_preference` applied once per change, in order:
- no event when the preference already is what the change asks for;
- a pause keeps the status, a status keeps the pause; a resume of nothing writes nothing;
- each real change writes one ledger event (`consent_event`), one change-feed row (kind
  `preference`, op `updated`) and leaves the preference with that feed row's `seq`.
One more rule, asked for by a change (`unless_newer`, the importer's): a change whose
`occurred_at` is older than the preference held is skipped (STALE), so an old list never
undoes a newer decision.

Set-based: one keyed look-up of the preferences held (`HELD_SQL`), the rules in Python (a
later change of the same preference sees the earlier one), then multi-row writes. On SQLite
the caller holds the write lock, so the feed rows inserted after `MAX(seq)` get the next
numbers in order. On PostgreSQL the changes are copied (`COPY`) into a temporary table and one
`INSERT … SELECT` writes the events, the feed rows (`RETURNING seq`) and the preferences.
Keep batches to what one short transaction writes (service.db.batches.TimedBatches).
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

from service.consent.ledger import ACTIONS, STATUS_AFTER, Proof, Tx
from service.db.keys import rows_arg, rows_from
from service.ops.counters import UNSUBSCRIBES

CHANGED, UNCHANGED, STALE = "changed", "unchanged", "stale"
PREFERENCE_KEY = ("contact_id", "channel", "topic")


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


def db_time(engine: str, value: datetime | None) -> Any:
    """A time as the driver is given it. SQLite: converted here by the adapter that converts
    every datetime parameter (so the text is the same as any other write's), which lets a
    batch convert its one `now` once rather than once per row and column."""
    if engine != "sqlite" or value is None:
        return value
    adapt = sqlite3.adapters.get((datetime, sqlite3.PrepareProtocol))
    return adapt(value) if adapt is not None else value


def held_sql(engine: str) -> str:
    """The preferences held for (contact_id, channel, topic) keys: `rows_arg(engine, keys, 3)`.
    SQLite: the keys, then CROSS JOIN (service.db.keys). PostgreSQL: a LATERAL subquery with
    LIMIT 1 (the index is unique), never flattened into a hash join over a seq scan, which a
    plain join of many keys got when the table's statistics were stale."""
    keys = rows_from(engine, 1, PREFERENCE_KEY)
    columns = "p.contact_id, p.channel, p.topic, p.status, p.paused_until, p.updated_at"
    match = "p.contact_id = k.contact_id AND p.channel = k.channel AND p.topic = k.topic"
    if engine == "postgres":
        return (f"SELECT h.* FROM {keys} CROSS JOIN LATERAL (SELECT {columns}"
                f" FROM preference p WHERE {match} LIMIT 1) AS h")
    return f"SELECT {columns} FROM {keys} CROSS JOIN preference p WHERE {match}"


async def held_preferences(tx: Tx, keys: Collection[tuple[str, str, str]]) -> dict:
    """(contact_id, channel, topic) -> (status, paused_until, updated_at) of those held."""
    if not keys:
        return {}
    rows = await tx.fetch(held_sql(tx.engine), *rows_arg(tx.engine, list(keys), 3))
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}


# A change to write: (change, at, status after it, paused_until after it, feed value, detail)
_Write = tuple


async def set_preferences(tx: Tx, changes: Sequence[Change], *, fresh: Collection[str] = (),
                          now: datetime | None = None) -> list[str]:
    """Apply the changes in order; for each, CHANGED, UNCHANGED or STALE.

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
        if tx.engine == "sqlite":
            await _write_sqlite(tx, writes, now)
        else:
            await _write_postgres(tx, writes)
        for source, count in opt_outs.items():  # counted once committed
            tx.after_commit(partial(UNSUBSCRIBES.labels(source).inc, count))
    return outcomes


def _event(c: Change, at: Any, detail: str | None) -> tuple:
    p = c.proof
    return (c.contact_id, c.address_key, c.channel, c.topic, c.action, p.source, at, p.ip,
            p.user_agent, p.wording_version, p.campaign, p.message_ref, p.api_key_id, detail)


EVENT_COLUMNS = ("contact_id", "address_key", "channel", "topic", "action", "source",
                 "occurred_at", "ip", "user_agent", "wording_version", "campaign", "message_ref",
                 "api_key_id", "detail")
INSERT_EVENT = (
    f"INSERT INTO consent_event ({', '.join(EVENT_COLUMNS)})"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
)
INSERT_FEED = (
    "INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,"
    " occurred_at) VALUES ('preference', 'updated', $1, $2, $3, $4, $5, $6, $7)"
)
UPSERT_PREFERENCE = (
    "INSERT INTO preference (contact_id, channel, topic, status, paused_until, updated_at, seq)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (contact_id, channel, topic) DO UPDATE SET status = excluded.status,"
    " paused_until = excluded.paused_until, updated_at = excluded.updated_at,"
    " seq = excluded.seq"
)


async def _write_sqlite(tx: Tx, writes: list[_Write], now: datetime) -> None:
    # We hold the only write lock: the feed rows get MAX(seq) + 1, + 2, ... in insert order
    # (seq is the rowid, no AUTOINCREMENT), as suppression.store.add_suppressions relies on.
    before = await tx.fetchval("SELECT COALESCE(MAX(seq), 0) FROM change_feed")
    now_text = db_time("sqlite", now)
    events, feed = [], []
    last: dict[tuple, tuple] = {}  # one upsert per preference: its last state and feed row
    for seq, (c, at, status, until, value, detail) in enumerate(writes, before + 1):
        at = now_text if at is now else db_time("sqlite", at)
        events.append(_event(c, at, detail))
        feed.append((c.channel, c.address_key, c.topic, c.contact_id, value, c.proof.source, at))
        last[(c.contact_id, c.channel, c.topic)] = (
            c.contact_id, c.channel, c.topic, status, db_time("sqlite", until), at, seq)
    await tx.executemany(INSERT_EVENT, events)
    await tx.executemany(INSERT_FEED, feed)
    await tx.executemany(UPSERT_PREFERENCE, list(last.values()))


TEMP_TABLE = "consent_many_change"
TEMP_COLUMNS = ("ord", *EVENT_COLUMNS, "value", "status", "paused_until", "final")
TEMP_DEFINITION = (
    "ord integer, contact_id text, address_key text, channel text, topic text, action text,"
    " source text, occurred_at timestamptz, ip text, user_agent text, wording_version text,"
    " campaign text, message_ref text, api_key_id integer, detail text, value text,"
    " status text, paused_until timestamptz, final boolean"
)
# Events and feed rows in the changes' order (serial values follow the ORDER BY); each
# preference once, with its last change (`final`) and that change's feed row (the highest seq).
PG_APPLY = f"""
WITH event AS (
  INSERT INTO consent_event ({', '.join(EVENT_COLUMNS)})
  SELECT contact_id, address_key, channel, topic, action, source, occurred_at, ip, user_agent,
         wording_version, campaign, message_ref, api_key_id, CAST(detail AS json)
    FROM {TEMP_TABLE} ORDER BY ord
), feed AS (
  INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,
                           occurred_at)
  SELECT 'preference', 'updated', channel, address_key, topic, contact_id, value, source,
         occurred_at
    FROM {TEMP_TABLE} ORDER BY ord
  RETURNING seq, contact_id, channel, topic
), last AS (
  SELECT contact_id, channel, topic, MAX(seq) AS seq FROM feed GROUP BY contact_id, channel, topic
)
INSERT INTO preference (contact_id, channel, topic, status, paused_until, updated_at, seq)
SELECT t.contact_id, t.channel, t.topic, t.status, t.paused_until, t.occurred_at, last.seq
  FROM last JOIN {TEMP_TABLE} t ON t.final AND t.contact_id = last.contact_id
   AND t.channel = last.channel AND t.topic = last.topic
ON CONFLICT (contact_id, channel, topic) DO UPDATE SET status = excluded.status,
  paused_until = excluded.paused_until, updated_at = excluded.updated_at, seq = excluded.seq
"""


async def _write_postgres(tx: Tx, writes: list[_Write]) -> None:
    final: dict[tuple, int] = {}
    for i, (c, *_) in enumerate(writes):
        final[(c.contact_id, c.channel, c.topic)] = i
    last = set(final.values())
    records = [(i, *_event(c, at, detail), value, status, until, i in last)
               for i, (c, at, status, until, value, detail) in enumerate(writes)]
    await tx.copy_to_temp(TEMP_TABLE, TEMP_DEFINITION, records, TEMP_COLUMNS)
    await tx.execute(PG_APPLY)
