"""Recording what mailers sent (`POST /v1/sends`), for the frequency rule of the checks.

A body of up to BULK_MAX_ITEMS addresses is decoded by msgspec, the addresses keyed as the
bulk check keys them (never stored in plain), and the rows written set-based, the keys as one
parameter: PostgreSQL one statement over an array, SQLite one statement over a JSON array per
time-sized transaction (service/db/batches.py), so a large request never holds the write lock
long. Sends are kept only as long as the longest window needs
(privacy/retention.py prunes them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from service.consent.decision import LONGEST_WINDOW
from service.db.batches import TimedBatches
from service.db.tenant_db import TenantDb
from service.errors import InputError, decode_json
from service.runtime import Runtime
from service.sends import queries as q
from service.sends.schemas import SendsRequest, SendsResult
from service.suppression.bulk import parse_on_loop
from service.suppression.check import resolve_topic
from service.suppression.schemas import InvalidItem

CLOCK_SKEW = timedelta(minutes=5)  # a mailer's clock may run this far ahead of ours
_decode = msgspec.json.Decoder(SendsRequest).decode
_encode = msgspec.json.Encoder().encode


def decode_request(body: bytes) -> SendsRequest:
    """The request, or a 4xx naming the field."""
    return decode_json(_decode, body)


def check_sent_at(sent_at: datetime | None, now: datetime) -> datetime:
    """The send time: now when absent; not in the future beyond the clock skew, not older
    than the longest window (such a send could never count)."""
    if sent_at is None:
        return now
    sent_at = sent_at.astimezone(UTC)
    if sent_at > now + CLOCK_SKEW:
        raise InputError("sent_at", "is in the future")
    if sent_at <= now - LONGEST_WINDOW:
        raise InputError("sent_at", f"is more than {LONGEST_WINDOW.days} days ago; no "
                                    "frequency or cap counts a send that old")
    return sent_at


async def record_sends(rt: Runtime, body: bytes) -> bytes:
    """`{"channel", "topic", "campaign", "sent_at", "addresses"}` to `{"recorded",
    "invalid"}` as JSON bytes."""
    ask = decode_request(body)
    limit = rt.settings.bulk_max_items
    if len(ask.addresses) > limit:
        raise InputError("addresses", f"has {len(ask.addresses)} items; at most {limit} per "
                         "request", status=413)
    topic = await resolve_topic(rt, ask.channel, ask.topic)
    if ask.campaign is not None and "\x00" in ask.campaign:
        raise InputError("campaign", "must not contain NUL characters")
    sent_at = check_sent_at(ask.sent_at, datetime.now(UTC))
    keys, errors = await parse_on_loop(rt, ask.channel, ask.addresses)
    invalid = [InvalidItem(item if type(item) is str else str(item), error)
               for item, error in zip(ask.addresses, errors, strict=True) if error is not None]
    if topic is None or topic.transactional:  # nothing is kept; the invalid are still listed
        return _encode(SendsResult(0, invalid))
    unique = sorted({k for k in keys if k is not None})  # index order: neighbouring pages
    await write_sends(rt.db, ask.channel, topic.key, sent_at, ask.campaign, unique)
    return _encode(SendsResult(len(unique), invalid))


async def write_sends(db: TenantDb, channel: str, topic: str, sent_at: datetime,
                      campaign: str | None, keys: list[str]) -> None:
    """One row per key: on PostgreSQL in one statement, on SQLite in short transactions in the
    order given (record_sends gives them sorted: each transaction then writes the index pages
    of one range of keys, and each page once)."""
    if not keys:
        return
    if not db.is_sqlite:
        async with db.transaction() as tx:
            await tx.execute(q.PG_INSERT, channel, ",".join(keys), topic, sent_at, campaign)
        return
    # SQLite stores times as text (piccolo's adapter: UTC, str()); done once, not per row
    when = str(sent_at.astimezone(UTC))
    start, batches = 0, TimedBatches(first=10_000)
    while start < len(keys):
        chunk = keys[start:start + batches.size]
        start += len(chunk)
        with batches.timed(len(chunk)):
            async with db.transaction() as tx:
                await tx.execute(q.SQLITE_INSERT, channel, _encode(chunk).decode(), topic,
                                 when, campaign)
