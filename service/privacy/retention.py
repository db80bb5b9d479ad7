"""Retention: personal data is kept only as long as the settings say, per kind of data.

- contacts opted out of everything (each address suppressed or opted out on its whole channel)
  for RETENTION_OPTED_OUT_DAYS, not restricted (art. 18 means "keep, do not use") and with no
  preference change since: removed like an erasure, leaving only suppressions keyed by address
  key (`unsubscribed` where the address was only opted out);
- IP and user agent of ledger events older than RETENTION_LEDGER_PII_MONTHS (the events stay);
- outbox jobs sent (or given up) more than RETENTION_OUTBOX_SENT_DAYS ago.
A setting of 0 keeps that kind of data. Work goes in batches, each its own short transaction.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from service.db.engine import Database
from service.privacy.erasure import remove_person
from service.settings import Settings

log = logging.getLogger("service.privacy.retention")
LOCK_ID = 7_201_559  # pg advisory lock: one retention run at a time across instances
BATCH = 50
ROW_BATCH = 5000

OPTED_OUT_SQL = """
FROM contact c
WHERE c.restricted = $2 AND c.created_at < $1
  AND EXISTS (SELECT 1 FROM address a WHERE a.contact_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM preference p WHERE p.contact_id = c.id AND p.updated_at >= $1)
  AND NOT EXISTS (
    SELECT 1 FROM address a WHERE a.contact_id = c.id
      AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.channel = a.channel
                      AND s.address_key = a.address_key AND s.topic = '' AND s.created_at < $1)
      AND NOT EXISTS (SELECT 1 FROM preference p WHERE p.contact_id = c.id
                      AND p.channel = a.channel AND p.topic = '' AND p.status = 'opted_out'))
"""
LEDGER_SQL = ("FROM consent_event WHERE occurred_at < $1"
              " AND (ip IS NOT NULL OR user_agent IS NOT NULL)")
OUTBOX_SENT_SQL = "FROM outbox WHERE status = 'sent' AND sent_at < $1"
OUTBOX_DEAD_SQL = "FROM outbox WHERE status = 'dead' AND created_at < $1"


@dataclass(slots=True)
class RetentionCounts:
    contacts: int = 0
    addresses: int = 0
    suppressions_added: int = 0
    ledger_events_scrubbed: int = 0
    outbox_sent_deleted: int = 0
    outbox_dead_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        return (f"{self.contacts} contacts opted out of everything ({self.addresses} addresses;"
                f" {self.suppressions_added} suppressions added to keep them blocked),"
                f" IP/user agent of {self.ledger_events_scrubbed} ledger events,"
                f" {self.outbox_sent_deleted} sent and {self.outbox_dead_deleted} dead"
                " outbox jobs")


def months_before(now: datetime, months: int) -> datetime:
    year, month0 = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, calendar.monthrange(year, month0 + 1)[1])
    return now.replace(year=year, month=month0 + 1, day=day)


def cutoffs(settings: Settings, now: datetime) -> dict[str, datetime | None]:
    def days(n: int) -> datetime | None:
        return now - timedelta(days=n) if n > 0 else None

    months = settings.retention_ledger_pii_months
    return {"contacts": days(settings.retention_opted_out_days),
            "ledger": months_before(now, months) if months > 0 else None,
            "outbox": days(settings.retention_outbox_sent_days)}


async def _in_batches(db: Database, change: str, where_sql: str, cutoff: datetime) -> int:
    """Apply `change` (DELETE or UPDATE) to the rows `where_sql` selects, a batch at a time."""
    total = 0
    while True:
        async with db.transaction() as tx:
            n = await tx.execute(f"{change} WHERE id IN (SELECT id {where_sql} LIMIT {ROW_BATCH})",
                                 cutoff)
        total += n
        if n < ROW_BATCH:
            return total


async def run_retention(db: Database, settings: Settings, now: datetime | None = None,
                        dry_run: bool = False) -> RetentionCounts:
    """One pass over every kind of data; returns (or, with dry_run, only counts) what goes."""
    now = now or datetime.now(UTC)
    limits = cutoffs(settings, now)
    counts = RetentionCounts()
    if dry_run:
        for name, sql, cutoff in (("outbox_sent_deleted", OUTBOX_SENT_SQL, limits["outbox"]),
                                  ("outbox_dead_deleted", OUTBOX_DEAD_SQL, limits["outbox"]),
                                  ("ledger_events_scrubbed", LEDGER_SQL, limits["ledger"])):
            if cutoff is not None:
                setattr(counts, name, await db.fetchval(f"SELECT COUNT(*) {sql}", cutoff))
        if limits["contacts"] is not None:
            counts.contacts = await db.fetchval(f"SELECT COUNT(*) {OPTED_OUT_SQL}",
                                                limits["contacts"], False)
        return counts
    # the outbox first: it is scanned for addresses when contacts are removed
    if limits["outbox"] is not None:
        counts.outbox_sent_deleted = await _in_batches(
            db, "DELETE FROM outbox", OUTBOX_SENT_SQL, limits["outbox"])
        counts.outbox_dead_deleted = await _in_batches(
            db, "DELETE FROM outbox", OUTBOX_DEAD_SQL, limits["outbox"])
    if limits["ledger"] is not None:
        counts.ledger_events_scrubbed = await _in_batches(
            db, "UPDATE consent_event SET ip = NULL, user_agent = NULL", LEDGER_SQL,
            limits["ledger"])
    if limits["contacts"] is not None:
        await _remove_opted_out(db, limits["contacts"], counts, now)
    return counts


async def _remove_opted_out(db: Database, cutoff: datetime, counts: RetentionCounts,
                            now: datetime) -> None:
    seen: set[str] = set()
    while True:
        ids = [r["id"] for r in await db.fetch(
            f"SELECT c.id {OPTED_OUT_SQL} ORDER BY c.id LIMIT $3", cutoff, False, BATCH)]
        ids = [i for i in ids if i not in seen]
        if not ids:
            return
        seen.update(ids)
        async with db.transaction() as tx:
            for contact_id in ids:
                # the criteria are checked again inside the transaction: a person who opted in
                # a moment ago is kept
                if await tx.fetchval(f"SELECT 1 {OPTED_OUT_SQL} AND c.id = $3",
                                     cutoff, False, contact_id) is None:
                    continue
                removed = await remove_person(tx, contact_id, why="retention", source="admin",
                                              now=now)
                if removed is not None:
                    counts.contacts += 1
                    counts.addresses += removed.addresses
                    counts.suppressions_added += removed.suppressions_added


@asynccontextmanager
async def exclusive(db: Database) -> AsyncIterator[bool]:
    """True when this process may run retention now: on PostgreSQL a session advisory lock
    (held on one pooled connection for the run); SQLite serializes writers anyway."""
    if db.is_sqlite:
        yield True
        return
    async with db.pool.acquire() as conn:
        got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_ID)
        try:
            yield bool(got)
        finally:
            if got:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)


async def retention_once(db: Database, settings: Settings, dry_run: bool = False
                         ) -> RetentionCounts | None:
    """A logged run; None when another instance is running one right now."""
    async with exclusive(db) as mine:
        if not mine:
            log.info("retention: another instance is running it; skipped")
            return None
        counts = await run_retention(db, settings, dry_run=dry_run)
    log.info("retention %s: %s", "would remove" if dry_run else "removed", counts.summary())
    return counts
