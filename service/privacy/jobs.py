"""The retention schedule: inside `serve` (embedded default) and `python -m service worker`.

Every instance wakes at each interval boundary; the first to insert the slot's claim row (an
outbox row of kind `retention`, status `sent`, unique `dedupe_key` `retention:<interval>:<slot>`)
runs that slot, so several instances on one PostgreSQL database, or several workers on one
SQLite file, run retention once per interval. The row keeps the run's counts. A PostgreSQL
advisory lock also keeps a long run from overlapping the next one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import UTC, datetime

from service.db.engine import Database
from service.privacy import queries as q
from service.privacy.retention import retention_once
from service.runtime import Runtime

log = logging.getLogger("service.privacy.retention")
MIN_INTERVAL = 60


def slot_key(interval: int, slot: int) -> str:
    return f"retention:{interval}:{slot}"


async def claim_slot(db: Database, interval: int, slot: int, now: datetime) -> bool:
    """True for exactly one caller per (interval, slot), across processes and hosts."""
    async with db.transaction() as tx:
        inserted = await tx.execute(
            q.CLAIM_SLOT, json.dumps({"slot": slot}), slot_key(interval, slot), now)
    return inserted > 0


async def run_slot(rt: Runtime, now: datetime | None = None) -> bool:
    """Run retention if this interval's slot is still free; True when this call ran it."""
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


async def retention_loop(rt: Runtime) -> None:
    while True:
        await run_slot(rt)
        interval = max(MIN_INTERVAL, rt.settings.retention_interval_seconds)
        wait = interval - time.time() % interval  # until the next boundary
        await asyncio.sleep(wait + random.uniform(0, min(30.0, interval / 10)))


LOOPS = {"retention": retention_loop}
