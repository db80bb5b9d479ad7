"""Verifying the ledger's hash chains, and checkpoints over their heads.

`verify` reads every chain (a contact's events in id order) in pages, never the whole ledger
at once, recomputes each event's digests and hash (consent/chain.py) and its link to the event
before it, and stops at the first event that does not match. Going through the whole ledger it
also recomputes the digest of the chain heads as of the latest checkpoint: links alone cannot
show that a chain's last events, or a whole chain, were deleted.

A checkpoint is SHA-256 over the lines "contact_id head_hash\\n" of every chain as of an event
id, in byte order of the contact ids, written to `ledger_checkpoint` and logged, so an operator
can notarise it outside the service (docs/privacy.md). The last event id is read under the
feed lock, which every ledger writer holds until it commits: every lower id is committed, and
the heads as of it never change afterwards.

All of it is one tenant's (the view `db` is): its chains, its checkpoints, and its feed lock,
which its ledger writers hold. A checkpoint's digest covers that tenant's heads only, and names
the tenant unless it is the default one (`chain.heads_digest`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.consent import chain
from service.consent import queries as q
from service.db.tenant_db import TenantDb

log = logging.getLogger("service.consent.ledger")
PAGE = 5000  # events per read
MIN_INTERVAL = 60


@dataclass(slots=True)
class Mismatch:
    event_id: int | None
    contact_id: str | None
    what: str  # "content", "link", "order" or "checkpoint"
    checkpoint_id: int | None = None

    def message(self) -> str:
        if self.what == "checkpoint":
            return f"checkpoint {self.checkpoint_id} does not match"
        return f"event {self.event_id} (contact {self.contact_id}): {self.what} does not match"


@dataclass(slots=True)
class Checkpoint:
    id: int | None
    created_at: datetime
    last_event_id: int
    chains: int
    events: int
    digest: str

    def line(self) -> str:
        return (f"checkpoint {self.id} at {self.created_at.isoformat()}: last event"
                f" {self.last_event_id}, {self.chains} chains, {self.events} events,"
                f" sha256 {self.digest}")


@dataclass(slots=True)
class Report:
    events: int = 0
    chains: int = 0
    mismatch: Mismatch | None = None
    checkpoint: Checkpoint | None = None  # the one checked against (the whole ledger only)


class HeadsAsOf:
    """The running digest of a tenant's chain heads as of event id `upto`, fed chain by
    chain."""

    def __init__(self, upto: int, tenant_id: int):
        self.upto, self.sha = upto, chain.heads_digest(tenant_id)
        self.chains = self.events = 0

    def add(self, contact_id: str, head: str | None, events: int) -> None:
        if head is not None:
            self.sha.update(chain.head_line(contact_id, head))
            self.chains += 1
            self.events += events


async def _pages(db: TenantDb, columns: Sequence[str], upto: int | None = None,
                 ) -> AsyncIterator[list[Any]]:
    """Every event in chain order (contact id as bytes, then id), a page at a time."""
    sql = q.chain_page_sql(db.engine, tuple(columns), PAGE, upto is not None)
    after: tuple[str, int] = ("", 0)
    while True:
        args = (*after, upto) if upto is not None else after
        rows = await db.fetch_long(sql, *args)
        if not rows:
            return
        yield rows
        after = (rows[-1][1], rows[-1][0])


async def _one_chain(db: TenantDb, contact_id: str) -> AsyncIterator[list[Any]]:
    sql, after = q.one_chain_sql(PAGE), 0
    while rows := await db.fetch_long(sql, contact_id, after):
        yield rows
        after = rows[-1][0]


async def verify(db: TenantDb, contact_id: str | None = None) -> Report:
    """Check every chain (or one contact's); the first mismatch found ends the walk."""
    report = Report()
    latest = None if contact_id is not None else await latest_checkpoint(db)
    heads = HeadsAsOf(latest.last_event_id if latest else 0, db.tenant_id)
    pages = _one_chain(db, contact_id) if contact_id is not None else _pages(
        db, q.CHAIN_EVENT_COLUMNS)
    current: str | None = None
    prev: str | None = None
    head_then: str | None = None  # the chain's head as of the checkpoint
    count_then = 0
    async for rows in pages:
        for values in rows:
            row = dict(zip(q.CHAIN_EVENT_COLUMNS, values, strict=True))
            if row["contact_id"] != current:
                if current is not None:
                    if row["contact_id"] < current:  # chains must come in byte order
                        report.mismatch = Mismatch(row["id"], row["contact_id"], "order")
                        return report
                    heads.add(current, head_then, count_then)
                current, prev, head_then, count_then = row["contact_id"], None, None, 0
                report.chains += 1
            what = chain.check(row, prev)
            if what is not None:
                report.mismatch = Mismatch(row["id"], row["contact_id"], what)
                return report
            report.events += 1
            prev = row["hash"]
            if row["id"] <= heads.upto:
                head_then, count_then = row["hash"], count_then + 1
    if current is not None:
        heads.add(current, head_then, count_then)
    if latest is not None:
        report.checkpoint = latest
        if (heads.sha.hexdigest(), heads.chains, heads.events) != (
                latest.digest, latest.chains, latest.events):
            report.mismatch = Mismatch(None, None, "checkpoint", latest.id)
    return report


async def latest_checkpoint(db: TenantDb) -> Checkpoint | None:
    row = await db.fetchrow(q.LATEST_CHECKPOINT)
    return Checkpoint(*row) if row is not None else None


async def heads_as_of(db: TenantDb, upto: int) -> HeadsAsOf:
    """The digest of every chain's head as of event `upto`, read in pages."""
    heads = HeadsAsOf(upto, db.tenant_id)
    current, head, count = None, None, 0
    async for rows in _pages(db, ("id", "contact_id", "hash"), upto):
        for _, contact_id, event_hash in rows:
            if contact_id != current:
                if current is not None:
                    heads.add(current, head, count)
                current, count = contact_id, 0
            head, count = event_hash, count + 1
    if current is not None:
        heads.add(current, head, count)
    return heads


async def write_checkpoint(db: TenantDb, now: datetime | None = None) -> Checkpoint:
    """Compute, store and log a checkpoint of the ledger as it is now."""
    now = now or datetime.now(UTC)
    async with db.transaction() as tx:
        await tx.lock_feed()  # every event of the tenant's with a lower id is committed
        upto = int(await tx.fetchval(q.LAST_EVENT_ID))
    heads = await heads_as_of(db, upto)
    point = Checkpoint(None, now, upto, heads.chains, heads.events, heads.sha.hexdigest())
    async with db.transaction() as tx:
        point.id = await tx.fetchval(q.INSERT_CHECKPOINT, now, upto, point.chains,
                                     point.events, point.digest)
    log.info("ledger %s", point.line())
    return point


async def checkpoint_due(db: TenantDb, interval: int, now: datetime) -> bool:
    """Whether the latest checkpoint is older than half the interval (another instance
    running the same loop wrote none just now)."""
    latest = await latest_checkpoint(db)
    return latest is None or (now - latest.created_at).total_seconds() >= interval / 2


async def checkpoint_if_due(db: TenantDb, interval_seconds: int,
                            now: datetime | None = None) -> Checkpoint | None:
    """The tenant's checkpoint of this interval (at least MIN_INTERVAL long), written unless
    another instance wrote one just now; what the schedule (consent/jobs.py) runs per tenant."""
    now = now or datetime.now(UTC)
    if await checkpoint_due(db, max(MIN_INTERVAL, interval_seconds), now):
        return await write_checkpoint(db, now)
    return None
