"""Retention: personal data is kept only as long as the settings say, per kind of data.

- contacts opted out of everything (each address suppressed or opted out on its whole channel)
  for RETENTION_OPTED_OUT_DAYS, not restricted (art. 18 means "keep, do not use") and with no
  preference change since: removed like an erasure, leaving only suppressions keyed by address
  key (`unsubscribed` where the address was only opted out);
- IP and user agent of ledger events older than RETENTION_LEDGER_PII_MONTHS (the events stay);
- outbox jobs sent (or given up) more than RETENTION_OUTBOX_SENT_DAYS ago;
- recorded sends (service/sends) older than the longest frequency window plus a day
  (`SENDS_KEPT`, not a setting: they serve nothing after that).
A setting of 0 keeps that kind of data. Work goes in batches, each its own short transaction.

A run is one tenant's (the view `db` is), with that tenant's settings: it removes only that
tenant's contacts, scrubs only its events and prunes only its sends. The outbox is the
process's delivery queue, not a tenant's data, and RETENTION_OUTBOX_SENT_DAYS is the
deployment's setting (not a tenant one): the default tenant's run prunes it, for every tenant,
and another tenant's run leaves it (docs/DECISIONS.md, "Tenants").
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from service.consent.decision import LONGEST_WINDOW
from service.db.tenant_db import TenantDb
from service.privacy import queries as q
from service.privacy.erasure import remove_person
from service.settings import Settings
from service.tenants.model import DEFAULT_TENANT_ID

log = logging.getLogger("service.privacy.retention")
# pg advisory lock: one retention run of a tenant at a time across instances; the default
# tenant's is the one key it had before tenants, another tenant's the pair (LOCK_ID, its id),
# a key space of its own (as the feed lock's, decision D5)
LOCK_ID = 7_201_559
BATCH = 50
SENDS_KEPT = LONGEST_WINDOW + timedelta(days=1)  # a day's margin over the longest window

@dataclass(slots=True)
class RetentionCounts:
    contacts: int = 0
    addresses: int = 0
    suppressions_added: int = 0
    ledger_events_scrubbed: int = 0
    outbox_sent_deleted: int = 0
    outbox_dead_deleted: int = 0
    sends_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        return (f"{self.contacts} contacts opted out of everything ({self.addresses} addresses;"
                f" {self.suppressions_added} suppressions added to keep them blocked),"
                f" IP/user agent of {self.ledger_events_scrubbed} ledger events,"
                f" {self.outbox_sent_deleted} sent and {self.outbox_dead_deleted} dead"
                f" outbox jobs, {self.sends_deleted} recorded sends")


def months_before(now: datetime, months: int) -> datetime:
    year, month0 = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, calendar.monthrange(year, month0 + 1)[1])
    return now.replace(year=year, month=month0 + 1, day=day)


def cutoffs(settings: Settings, now: datetime, outbox: bool = True
            ) -> dict[str, datetime | None]:
    def days(n: int) -> datetime | None:
        return now - timedelta(days=n) if n > 0 else None

    months = settings.retention_ledger_pii_months
    return {"contacts": days(settings.retention_opted_out_days),
            "ledger": months_before(now, months) if months > 0 else None,
            "outbox": days(settings.retention_outbox_sent_days) if outbox else None}


async def _in_batches(db: TenantDb, sql: str, cutoff: datetime) -> int:
    """Run `sql` (a DELETE or UPDATE of at most q.ROW_BATCH rows) until it leaves fewer."""
    total = 0
    while True:
        async with db.transaction() as tx:
            n = await tx.execute(sql, cutoff)
        total += n
        if n < q.ROW_BATCH:
            return total


async def _prune_sends(db: TenantDb, cutoff: datetime) -> int:
    """Delete the sends older than `cutoff` (send_log has no index on sent_at): on SQLite a
    window of rowids per transaction, rows written after the first read being recent; on
    PostgreSQL one statement."""
    if not db.is_sqlite:
        return await db.execute(q.PG_DELETE_SENDS, cutoff)
    first, last = await db.fetchrow(q.SQLITE_SENDS_ROWIDS)
    total = 0
    if first is None:
        return total
    for start in range(first - 1, last, q.SENDS_WINDOW):
        async with db.transaction() as tx:
            total += await tx.execute(q.SQLITE_DELETE_SENDS, cutoff, start,
                                      start + q.SENDS_WINDOW)
    return total


async def run_retention(db: TenantDb, settings: Settings, now: datetime | None = None,
                        dry_run: bool = False) -> RetentionCounts:
    """One pass over every kind of data; returns (or, with dry_run, only counts) what goes."""
    now = now or datetime.now(UTC)
    limits = cutoffs(settings, now, outbox=db.tenant_id == DEFAULT_TENANT_ID)
    counts = RetentionCounts()
    if dry_run:
        for name, sql, cutoff in (("outbox_sent_deleted", q.COUNT_OUTBOX_SENT, limits["outbox"]),
                                  ("outbox_dead_deleted", q.COUNT_OUTBOX_DEAD, limits["outbox"]),
                                  ("ledger_events_scrubbed", q.COUNT_LEDGER, limits["ledger"])):
            if cutoff is not None:
                setattr(counts, name, await db.fetchval(sql, cutoff))
        if limits["contacts"] is not None:
            counts.contacts = await db.fetchval(q.COUNT_OPTED_OUT, limits["contacts"], False)
        counts.sends_deleted = await db.fetchval(q.COUNT_SENDS, now - SENDS_KEPT)
        return counts
    counts.sends_deleted = await _prune_sends(db, now - SENDS_KEPT)
    # the outbox first: it is scanned for addresses when contacts are removed
    if limits["outbox"] is not None:
        counts.outbox_sent_deleted = await _in_batches(
            db, q.DELETE_OUTBOX_SENT, limits["outbox"])
        counts.outbox_dead_deleted = await _in_batches(
            db, q.DELETE_OUTBOX_DEAD, limits["outbox"])
    if limits["ledger"] is not None:
        counts.ledger_events_scrubbed = await _in_batches(db, q.SCRUB_LEDGER, limits["ledger"])
    if limits["contacts"] is not None:
        await _remove_opted_out(db, limits["contacts"], counts, now)
    return counts


async def _remove_opted_out(db: TenantDb, cutoff: datetime, counts: RetentionCounts,
                            now: datetime) -> None:
    seen: set[str] = set()
    while True:
        ids = [r["id"] for r in await db.fetch(q.OPTED_OUT_IDS, cutoff, False, BATCH)]
        ids = [i for i in ids if i not in seen]
        if not ids:
            return
        seen.update(ids)
        async with db.transaction() as tx:
            for contact_id in ids:
                # the criteria are checked again inside the transaction: a person who opted in
                # a moment ago is kept
                if await tx.fetchval(q.STILL_OPTED_OUT, cutoff, False, contact_id) is None:
                    continue
                removed = await remove_person(tx, contact_id, why="retention", source="admin",
                                              now=now)
                if removed is not None:
                    counts.contacts += 1
                    counts.addresses += removed.addresses
                    counts.suppressions_added += removed.suppressions_added


@asynccontextmanager
async def exclusive(db: TenantDb) -> AsyncIterator[bool]:
    """True when this process may run retention now: on PostgreSQL a session advisory lock
    (held on one pooled connection for the run); SQLite serializes writers anyway."""
    if db.is_sqlite:
        yield True
        return
    key = (LOCK_ID,) if db.tenant_id == DEFAULT_TENANT_ID else (LOCK_ID, db.tenant_id)
    try_lock, unlock = (q.TRY_LOCK, q.UNLOCK) if len(key) == 1 else (q.TRY_LOCK_2, q.UNLOCK_2)
    async with db.pool.acquire() as conn:
        got = await conn.fetchval(try_lock, *key)
        try:
            yield bool(got)
        finally:
            if got:
                await conn.execute(unlock, *key)


async def retention_once(db: TenantDb, settings: Settings, dry_run: bool = False
                         ) -> RetentionCounts | None:
    """A logged run; None when another instance is running one right now."""
    async with exclusive(db) as mine:
        if not mine:
            log.info("retention: another instance is running it; skipped")
            return None
        counts = await run_retention(db, settings, dry_run=dry_run)
    log.info("retention %s: %s", "would remove" if dry_run else "removed", counts.summary())
    return counts
