"""`GET /v1/suppressions`: the suppression list and its change feed, by opaque cursor.

Without a cursor the listing starts with a snapshot: the suppressions in force up to the feed's
high-water mark H (read once, carried in the cursor), in `seq` order; it then continues with the
change feed after H, adds and removals in `seq` order, forever (an empty page with
`has_more: false` means caught up: poll again with the same cursor). With `since` it starts in
the change feed at that time instead. Each suppression of the snapshot has seq <= H and each
change of the feed seq > H, so a mirror sees every change exactly once.

Why the feed has no gaps: every writer of `change_feed` takes `tx.lock_feed()` (a PostgreSQL
advisory transaction lock; SQLite has a single writer anyway) before it draws a sequence number
and holds it until its commit is visible, so numbers become visible in increasing order; a
reader that has seen N can never later find a committed number below N. See docs/suppression.md.

Per tenant (issue 18): the sequence is global, but every statement reads one tenant's rows and
its writers' lock is the tenant's own, so the order holds within each tenant's feed, the only
one its readers see. A cursor belongs to the tenant it was given to (service/cursors.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from service import cursors
from service.db.tenant_db import TenantDb
from service.errors import InputError
from service.suppression import queries as q
from service.suppression.schemas import FeedEntry, FeedPage
from service.suppression.store import last_seq
from service.tenants.model import DEFAULT_TENANT_ID

_encoder = msgspec.json.Encoder()
MAX_LIMIT = 10_000


class Cursor(msgspec.Struct, omit_defaults=True):
    phase: str  # "s": snapshot of suppressions in force; "f": the change feed
    after: int  # last seq delivered
    high: int = 0  # snapshot phase: the high-water mark it runs up to
    channel: str | None = None
    reason: str | None = None
    topic: str | None = None


def encode_cursor(cursor: Cursor, tenant_id: int = DEFAULT_TENANT_ID) -> str:
    return cursors.encode_cursor(_encoder.encode(cursor), tenant_id)


def _position(raw: bytes) -> Cursor:
    cursor = msgspec.json.decode(raw, type=Cursor)
    if cursor.phase not in ("s", "f") or cursor.after < 0:
        raise ValueError(cursor)
    return cursor


def decode_cursor(text: str, tenant_id: int = DEFAULT_TENANT_ID) -> Cursor:
    return cursors.decode_cursor(text, "query.cursor", _position, tenant_id)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def start_cursor(db: TenantDb, channel: str | None, reason: str | None,
                       topic: str | None, since: datetime | None) -> Cursor:
    if since is not None:
        before = await db.fetchval(q.FEED_BEFORE, _utc(since))
        return Cursor("f", before or 0, channel=channel, reason=reason, topic=topic)
    high = await last_seq(db)
    return Cursor("s", 0, high=high, channel=channel, reason=reason, topic=topic)


def _filters(cursor: Cursor, reason_column: str) -> tuple[list[str], list]:
    """(columns, values) of the filters the cursor carries."""
    given = [(column, value) for column, value in (
        ("channel", cursor.channel), (reason_column, cursor.reason), ("topic", cursor.topic))
        if value is not None]
    return [column for column, _ in given], [value for _, value in given]


async def _snapshot(db: TenantDb, cursor: Cursor, limit: int) -> list[FeedEntry]:
    columns, values = _filters(cursor, "reason")
    rows = await db.fetch_long(q.snapshot_sql(columns, limit), cursor.after, cursor.high,
                               *values)
    return [FeedEntry(r[0], "added", r[1], r[2], r[3] or None, r[4], r[5], r[6], _utc(r[7]))
            for r in rows]


async def _changes(db: TenantDb, cursor: Cursor, limit: int) -> list[FeedEntry]:
    columns, values = _filters(cursor, "value")
    rows = await db.fetch_long(q.changes_sql(columns, limit), cursor.after, *values)
    return [FeedEntry(r[0], r[1], r[2], r[3], r[4] or None, r[5], r[6], r[7], _utc(r[8]))
            for r in rows]


async def read_page(db: TenantDb, *, cursor: str | None, channel: str | None,
                    reason: str | None, topic: str | None, since: datetime | None,
                    limit: int) -> bytes:
    """One page of the listing as JSON bytes."""
    if cursor:
        position = decode_cursor(cursor, db.tenant_id)
        for name, given in (("channel", channel), ("reason", reason), ("topic", topic)):
            if given is not None and given != getattr(position, name):
                raise InputError(f"query.{name}", "differs from the filter of the cursor; "
                                 "start a new listing to change filters")
    else:
        position = await start_cursor(db, channel, reason, topic, since)
    entries: list[FeedEntry] = []
    if position.phase == "s":
        entries = await _snapshot(db, position, limit)
        if len(entries) == limit:
            position = msgspec.structs.replace(position, after=entries[-1].seq)
        else:  # the snapshot is done: carry on with the changes after its high-water mark
            position = msgspec.structs.replace(position, phase="f", after=position.high, high=0)
    if position.phase == "f" and len(entries) < limit:
        changes = await _changes(db, position, limit - len(entries))
        if changes:
            position = msgspec.structs.replace(position, after=changes[-1].seq)
        entries.extend(changes)
    return _encoder.encode(FeedPage(entries, encode_cursor(position, db.tenant_id),
                                  len(entries) == limit))
