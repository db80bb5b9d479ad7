"""The bulk check: many addresses, the same rules as the single check, one query per chunk.

Addresses are parsed into address keys in a worker thread, the state of a whole chunk is fetched
in one query (a join on the unnested keys on PostgreSQL, `IN (SELECT value FROM
json_each($2))` on SQLite, read off the event loop by `fetch_long`), and each address is
answered by the same `decide()` as the single check. Parsing the next chunk overlaps the
query of the current one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from service.consent.decision import AddressState, decide, state_from_rows
from service.contacts.normalize import AddressError, normalize_email
from service.db.engine import Database
from service.ops.metrics import observe_checks
from service.runtime import Runtime
from service.suppression.check import key_of
from service.topics.cache import TopicInfo

CHUNK = 10_000
INLINE_BELOW = 500  # smaller chunks are parsed on the loop: a thread hop costs more

# The union of STATE_SQL (service/consent/decision.py) for a set of keys, with the key in front.
# SQLite: `IN (SELECT value FROM json_each($2))` probes the indexes once per key. PostgreSQL:
# a join on the keys rather than `= ANY($2)`, which the planner may turn into a scan that
# searches the array linearly for every row when the table's statistics are thin; the keys go
# as one comma-separated text (hex keys hold no commas), ~15% cheaper than encoding a text[].
SQLITE_STATE_SQL = """
SELECT address_key, 's', topic, reason, NULL FROM suppression
 WHERE channel = $1 AND address_key IN (SELECT value FROM json_each($2))
UNION ALL
SELECT a.address_key, 'p', p.topic, p.status, p.paused_until FROM address a
  JOIN preference p ON p.contact_id = a.contact_id AND p.channel = $1
 WHERE a.channel = $1 AND a.address_key IN (SELECT value FROM json_each($2))
UNION ALL
SELECT a.address_key, 'r', '', '', NULL FROM address a JOIN contact c ON c.id = a.contact_id
 WHERE a.channel = $1 AND a.address_key IN (SELECT value FROM json_each($2))
   AND c.restricted
"""
PG_STATE_SQL = """
WITH k(key) AS (SELECT DISTINCT unnest(string_to_array($2, ',')))
SELECT s.address_key, 's', s.topic, s.reason, NULL FROM k
  JOIN suppression s ON s.channel = $1 AND s.address_key = k.key
UNION ALL
SELECT a.address_key, 'p', p.topic, p.status, p.paused_until FROM k
  JOIN address a ON a.channel = $1 AND a.address_key = k.key
  JOIN preference p ON p.contact_id = a.contact_id AND p.channel = $1
UNION ALL
SELECT a.address_key, 'r', '', '', NULL FROM k
  JOIN address a ON a.channel = $1 AND a.address_key = k.key
  JOIN contact c ON c.id = a.contact_id
 WHERE c.restricted
"""


class BadItem:
    """An input item that is not even a string (a line that is not UTF-8 or not JSON)."""

    __slots__ = ("text", "error")

    def __init__(self, text: str, error: str):
        self.text, self.error = text, error


def parse_items(rt: Runtime, channel: str, items: list) -> tuple[list, list]:
    """(keys, errors), aligned with items: a key and None, or None and the error message."""
    keys: list[str | None] = []
    errors: list[str | None] = []
    email = channel == "email"
    key, normalize = rt.keyer.key, normalize_email
    for item in items:
        # The common case, short email addresses, straight to what key_of() would call for
        # them (not a key, no space to read back as "+"): a quarter of the parsing cost.
        if email and type(item) is str and len(item) < 64 and " " not in item:
            try:
                keys.append(key("email", normalize(item)))
                errors.append(None)
            except AddressError as exc:
                keys.append(None)
                errors.append(str(exc))
            continue
        if type(item) is not str:
            keys.append(None)
            errors.append(item.error if isinstance(item, BadItem) else "must be a string")
            continue
        try:
            keys.append(key_of(rt, channel, item))
            errors.append(None)
        except AddressError as exc:
            keys.append(None)
            errors.append(str(exc))
    return keys, errors


async def fetch_rows(
    db: Database, channel: str, keys: list[str], fresh: bool = False,
) -> dict[str, tuple]:
    """key -> its state rows (kind, topic, value, until) in (kind, topic, value) order, for
    every key that has any, in one query (a replica may answer unless `fresh`; on SQLite off
    the event loop). The order is the index order the single check reads them in."""
    if not keys:
        return {}
    if db.is_sqlite:
        rows = await db.fetch_long(SQLITE_STATE_SQL, channel, msgspec.json.encode(keys).decode())
    elif db.replicas is None:
        rows = await db.fetch_long(PG_STATE_SQL, channel, ",".join(keys))
    else:
        rows = await db.fetch_read(PG_STATE_SQL, channel, ",".join(keys), fresh=fresh)
    grouped: dict[str, list] = {}
    for key, kind, topic, value, until in rows:
        found = grouped.get(key)
        if found is None:
            grouped[key] = [(kind, topic, value, until)]
        else:
            found.append((kind, topic, value, until))
    return {key: tuple(found) if len(found) == 1 else tuple(sorted(found, key=_row_order))
            for key, found in grouped.items()}


def _row_order(row: tuple) -> tuple:
    return row[0], row[1], row[2]


async def fetch_states(
    db: Database, channel: str, keys: list[str], fresh: bool = False,
) -> dict[str, AddressState]:
    """The state of every key that has any, in one query."""
    return {key: state_from_rows(rows)
            for key, rows in (await fetch_rows(db, channel, keys, fresh)).items()}


async def check_chunks(
    rt: Runtime, channel: str, topic: TopicInfo | None,
    chunks: AsyncIterator[tuple[Any, list]], fresh: bool = False,
) -> AsyncIterator[tuple[Any, list, list]]:
    """For each (tag, items) chunk: (tag, items, results), in order. A result is the list of
    reasons (empty: allowed) or, for an item that cannot be parsed, the error message (a str)."""
    now = datetime.now(UTC)
    memo: dict[tuple, list[str]] = {(): decide(AddressState(), topic, now)}  # by state rows
    pending: tuple | None = None
    try:
        async for tag, items in chunks:
            if len(items) < INLINE_BELOW:
                keys, errors = parse_items(rt, channel, items)
            else:
                keys, errors = await asyncio.to_thread(parse_items, rt, channel, items)
            unique = list({k: None for k in keys if k is not None})
            query = asyncio.ensure_future(fetch_rows(rt.db, channel, unique, fresh))
            if pending is not None:
                yield await _finish(pending, topic, now, memo)
            pending = (tag, items, keys, errors, query)
        if pending is not None:
            last, pending = pending, None
            yield await _finish(last, topic, now, memo)
    finally:
        if pending is not None:
            pending[-1].cancel()


async def _finish(pending: tuple, topic: TopicInfo | None, now: datetime, memo: dict) -> tuple:
    """Answer a chunk. Addresses with the same state rows get the same answer, so `decide()`
    runs once per distinct state (one for every address with no state at all)."""
    tag, items, keys, errors, query = pending
    found = await query
    results: list = []
    for key, error in zip(keys, errors, strict=True):
        if key is None:
            results.append(error)
            continue
        rows = found.get(key, ())
        reasons = memo.get(rows)
        if reasons is None:
            reasons = memo[rows] = decide(state_from_rows(rows), topic, now)
        results.append(reasons)
    observe_checks(r for r in results if type(r) is list)
    return tag, items, results


async def slices(items: list, size: int | None = None) -> AsyncIterator[tuple[int, list]]:
    """A list as chunks (of CHUNK items by default); the tag is the offset of the chunk."""
    size = size or CHUNK
    for start in range(0, len(items), size):
        yield start, items[start:start + size]
