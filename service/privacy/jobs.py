"""The retention schedule: inside `serve` (embedded default) and `python -m service worker`.

Every instance wakes at each interval boundary; the first to insert the slot's claim row (an
outbox row of kind `retention`, status `sent`, unique `dedupe_key` `retention:<interval>:<slot>`)
runs that slot, so several instances on one PostgreSQL database, or several workers on one
SQLite file, run retention once per interval. The row keeps the run's counts. A PostgreSQL
advisory lock also keeps a long run from overlapping the next one.

Each tenant has its own slots (the claim row is the tenant's, its dedupe key unique per
tenant) and its own run, in its view with its own retention settings: a pass goes over every
tenant (`background.each_tenant`), one after the other.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from service.background import each_tenant, until_next_boundary
from service.db.tenant_db import TenantDb
from service.privacy import queries as q
from service.privacy.retention import retention_once
from service.runtime import Runtime

log = logging.getLogger("service.privacy.retention")
MIN_INTERVAL = 60


def slot_key(interval: int, slot: int) -> str:
    return f"retention:{interval}:{slot}"


async def claim_slot(db: TenantDb, interval: int, slot: int, now: datetime) -> bool:
    """True for exactly one caller per (tenant, interval, slot), across processes and hosts."""
    async with db.transaction() as tx:
        inserted = await tx.execute(
            q.CLAIM_SLOT, json.dumps({"slot": slot}), slot_key(interval, slot), now)
    return inserted > 0


async def run_slot(rt: Runtime, now: datetime | None = None) -> bool:
    """Run the view's tenant's retention if its slot of this interval is still free; True when
    this call ran it."""
    now = now or datetime.now(UTC)
    interval = max(MIN_INTERVAL, rt.settings.retention_interval_seconds)
    slot = int(now.timestamp()) // interval
    if not await claim_slot(rt.db, interval, slot, now):
        return False
    counts = await retention_once(rt.db, rt.settings)
    if counts is not None:
        await rt.db.execute(q.SLOT_RESULT, json.dumps({"slot": slot, "removed": counts.as_dict()}),
                            slot_key(interval, slot))
    return True


async def retention_pass(rt: Runtime, now: datetime | None = None) -> dict[str, bool]:
    """This interval's retention of every tenant whose slot is still free: tenant slug ->
    whether this call ran it."""
    now = now or datetime.now(UTC)
    return await each_tenant(rt, lambda view: run_slot(view, now), "retention")


async def retention_loop(rt: Runtime, every_tenant: bool = True) -> None:
    """At every interval boundary, every tenant's retention (or, `every_tenant` False, only
    the tenant of `rt`'s: `python -m service retention --tenant SLUG`)."""
    while True:
        if every_tenant:
            await retention_pass(rt)
        else:
            await run_slot(rt)
        await until_next_boundary(max(MIN_INTERVAL, rt.settings.retention_interval_seconds))


LOOPS = {"retention": retention_loop}
