"""The bulk check: many addresses, the same rules as the single check, one query per chunk.

Addresses are parsed into address keys on the event loop, a slice at a time; the state of a
whole chunk is fetched in one query (`state_keyed_sql` of service/consent/state_queries.py: the
address-state query joined to the sorted, unique keys; on SQLite off the event loop on a
kept-open connection, by `fetch_long`), and each address is
answered by the same `decide()` as the single check. Parsing the next chunk overlaps the query
of the current one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from service.consent.decision import (
    FREQUENCY,
    AddressState,
    decide,
    frequency_clear_at,
    row_order,
    state_from_rows,
)
from service.consent.state_queries import STATE
from service.contacts.normalize import AddressError
from service.db.tenant_db import TenantDb
from service.ops.counters import observe_checks
from service.runtime import Runtime
from service.suppression.check import key_of, list_staleness
from service.topics.cache import TopicInfo

CHUNK = 10_000
# Parsing is pure Python: in a thread it would only fight the loop for the GIL (measured: a
# third slower), so it runs on the loop in slices this long (a few ms each), yielding between.
PARSE_SLICE = 2_000

# (key, kind, topic, value, until, pace, deciding): service/consent/queries.py
_decode_rows = msgspec.json.Decoder(
    list[tuple[str, str, str, str, str | None, str | None, str | None]]).decode

class Paced(list):
    """The reasons of an address that rule 7 (frequency) blocks, with when it clears: one per
    distinct state (the time depends on the sends in the state rows, so it is memoised with
    the reasons)."""

    __slots__ = ("next_allowed_at",)

    def __init__(self, reasons: list[str], next_allowed_at: datetime | None):
        super().__init__(reasons)
        self.next_allowed_at = next_allowed_at


def next_allowed(result: list) -> datetime | None:
    """The `next_allowed_at` of a bulk result (None unless the frequency rule blocks)."""
    return result.next_allowed_at if type(result) is Paced else None


class BadItem:
    """An input item that is not even a string (a line that is not UTF-8 or not JSON)."""

    __slots__ = ("text", "error")

    def __init__(self, text: str, error: str):
        self.text, self.error = text, error


def parse_items(rt: Runtime, channel: str, items: list) -> tuple[list, list]:
    """(keys, errors), aligned with items: a key and None, or None and the error message."""
    # Most of a mailing list takes the fused email path; the rest goes the way key_of() goes.
    keys: list[str | None] = (rt.keyer.email_keys(items) if channel == "email"
                              else [None] * len(items))
    errors: list[str | None] = [None] * len(items)
    for i, key in enumerate(keys):
        if key is not None:
            continue
        item = items[i]
        if type(item) is not str:
            errors[i] = item.error if isinstance(item, BadItem) else "must be a string"
            continue
        try:
            keys[i] = key_of(rt, channel, item)
        except AddressError as exc:
            errors[i] = str(exc)
    return keys, errors


async def parse_on_loop(rt: Runtime, channel: str, items: list) -> tuple[list, list]:
    """parse_items() a slice at a time, letting other requests run in between."""
    if len(items) <= PARSE_SLICE:
        return parse_items(rt, channel, items)
    keys: list = []
    errors: list = []
    for start in range(0, len(items), PARSE_SLICE):
        part_keys, part_errors = parse_items(rt, channel, items[start:start + PARSE_SLICE])
        keys += part_keys
        errors += part_errors
        await asyncio.sleep(0)
    return keys, errors


async def fetch_rows(
    db: TenantDb, channel: str, keys: list[str], fresh: bool = False,
) -> dict[str, tuple]:
    """key -> its state rows (kind, topic, value, until, pace, deciding) in (kind, topic,
    value) order, for every key that has any, in one query (a replica may answer unless
    `fresh`; on SQLite off the event loop). The single check puts its rows in the same order
    (`decision.in_order`)."""
    if not keys:
        return {}
    keys = sorted(keys)  # probes in index order share pages: a third faster on a large table
    if db.is_sqlite:
        found = await db.fetch_long(STATE.sqlite_keyed, channel,
                                    msgspec.json.encode(keys).decode())
        rows = _decode_rows(found[0][0])
    else:
        rows = await db.fetch_read(STATE.pg_keyed, channel, ",".join(keys), fresh=fresh)
    grouped: dict[str, tuple] = {}
    several = []  # keys with more than one row: most have exactly one
    get = grouped.get
    for row in rows:
        key = row[0]
        found = get(key)
        if found is None:
            grouped[key] = (row[1:],)
        else:
            if len(found) == 1:  # once per key: a paced address has a row per recorded send
                several.append(key)
            grouped[key] = (*found, row[1:])
    for key in several:
        grouped[key] = tuple(sorted(grouped[key], key=row_order))
    return grouped


async def fetch_states(
    db: TenantDb, channel: str, keys: list[str], fresh: bool = False,
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
    stale = False
    memo: dict[tuple, list[str]] = {}  # by state rows; emptied when `stale` changes
    pending: tuple | None = None
    try:
        async for tag, items in chunks:
            # per chunk: a long stream sees a list go stale (or be refreshed) as it goes
            block = await list_staleness(rt, channel, topic, datetime.now(UTC), len(items))
            if block != stale or not memo:
                if pending is not None:
                    yield await _finish(pending, topic, now, memo, stale)
                    pending = None
                stale = block
                memo = {(): decide(AddressState(), topic, now, stale)}
            keys, errors = await parse_on_loop(rt, channel, items)
            unique = list({k: None for k in keys if k is not None})
            query = asyncio.ensure_future(fetch_rows(rt.db, channel, unique, fresh))
            if pending is not None:
                yield await _finish(pending, topic, now, memo, stale)
            pending = (tag, items, keys, errors, query)
        if pending is not None:
            last, pending = pending, None
            yield await _finish(last, topic, now, memo, stale)
    finally:
        if pending is not None:
            pending[-1].cancel()


async def _finish(pending: tuple, topic: TopicInfo | None, now: datetime, memo: dict,
                  stale: bool) -> tuple:
    """Answer a chunk. Addresses with the same state rows get the same answer, so `decide()`
    runs once per distinct state (one for every address with no state at all)."""
    tag, items, keys, errors, query = pending
    found = await query
    results: list = []
    append, get, state_of = results.append, found.get, memo.get
    tally: dict[int, list] = {}  # id(reasons) -> [reasons, how many addresses got them]
    for key, error in zip(keys, errors, strict=True):
        if key is None:
            append(error)
            continue
        rows = get(key, ())
        reasons = state_of(rows)
        if reasons is None:
            state = state_from_rows(rows)
            reasons = decide(state, topic, now, stale)
            if FREQUENCY in reasons:
                reasons = Paced(reasons, frequency_clear_at(state, topic, now))
            memo[rows] = reasons
        append(reasons)
        counted = tally.get(id(reasons))
        if counted is None:
            tally[id(reasons)] = [reasons, 1]
        else:
            counted[1] += 1
    observe_checks(tally.values())
    return tag, items, results


async def slices(items: list, size: int | None = None) -> AsyncIterator[tuple[int, list]]:
    """A list as chunks (of CHUNK items by default); the tag is the offset of the chunk."""
    size = size or CHUNK
    for start in range(0, len(items), size):
        yield start, items[start:start + size]
