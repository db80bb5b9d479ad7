"""National do-not-call lists (TPS, CTPS, FPS, MPS, the US DNC) as dated snapshots.

A snapshot import (importer.py, `--snapshot --as-of`) notes every key of the file
(`stage_keys`, in each add batch's transaction), then lifts the list's suppressions whose
number left it (`lift_gone`: only `reason = external_list` and that `list_name` on that
channel, a page at a time, each lift with its feed row through `store.remove_suppressions`),
then records the list's date and size (`record_list`). The checks read the lists' dates from
`ExternalListCache`, refreshed every few seconds (the import is another process): the hot
paths add no query, and staleness is computed from `as_of` and the time of each check
(`consent.decision.stale_lists`). Statements: service/suppression/queries.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from service.consent.ledger import Tx
from service.db.batches import TimedBatches
from service.db.keys import keys_arg
from service.db.tenant_db import TenantDb
from service.ops.counters import STALE_LIST_CHECKS
from service.suppression import queries as q
from service.suppression.store import remove_suppressions

log = logging.getLogger("service.suppression")
WARN_EVERY_SECONDS = 60.0  # a stale list is logged once a minute, not once per check


@dataclass(frozen=True, slots=True)
class ExternalList:
    name: str
    channel: str
    as_of: date
    size: int
    max_age_days: int | None  # None: a list of the operator's own, never stale

    @property
    def last_day(self) -> date | None:
        """The last day a check may rely on this snapshot."""
        if self.max_age_days is None:
            return None
        return self.as_of + timedelta(days=self.max_age_days)


def lists_from_rows(rows, max_ages: dict[str, int]) -> list[ExternalList]:
    return [ExternalList(r[0], r[1], date.fromisoformat(str(r[2])), int(r[3]),
                         max_ages.get(str(r[0]).upper())) for r in rows]


async def all_lists(db: TenantDb, max_ages: dict[str, int]) -> list[ExternalList]:
    """Every list recorded, by name (GET /v1/external-lists)."""
    return lists_from_rows(await db.fetch(q.LISTS_ALL), max_ages)


class ExternalListCache:
    """(name, last day) of each channel's lists, refreshed every `ttl` seconds; also the
    once-a-minute warning and the metric of checks answered while a list is stale."""

    def __init__(self, max_ages: dict[str, int], ttl_seconds: float = 5.0):
        self.max_ages, self.ttl = max_ages, ttl_seconds
        self._by_channel: dict[str, tuple[tuple[str, date], ...]] = {}
        self._expires = 0.0
        self._warned: dict[str, float] = {}

    async def deadlines(self, db: TenantDb, channel: str) -> tuple[tuple[str, date], ...]:
        if time.monotonic() >= self._expires:
            await self._refresh(db)
        return self._by_channel.get(channel, ())

    async def _refresh(self, db: TenantDb) -> None:
        by_channel: dict[str, list[tuple[str, date]]] = {}
        for item in lists_from_rows(await db.fetch_read(q.LISTS_ALL), self.max_ages):
            if item.last_day is not None:
                by_channel.setdefault(item.channel, []).append((item.name, item.last_day))
        self._by_channel = {c: tuple(v) for c, v in by_channel.items()}
        self._expires = time.monotonic() + self.ttl

    def invalidate(self) -> None:
        self._expires = 0.0

    def report(self, channel: str, names: list[str], mode: str, checks: int = 1) -> None:
        """Count `checks` answered while `names` are stale; warn once a minute per list."""
        now = time.monotonic()
        for name in names:
            STALE_LIST_CHECKS.labels(name, mode).inc(checks)
            if now - self._warned.get(name, -WARN_EVERY_SECONDS) >= WARN_EVERY_SECONDS:
                self._warned[name] = now
                log.warning("external list %s (%s) is past its maximum age of %s days: "
                            "marketing checks on %s %s; import a current snapshot",
                            name, channel, self.max_ages.get(name), channel,
                            "are blocked" if mode == "block" else "are not screened")


async def stage_keys(tx: Tx, list_name: str, keys: list[str]) -> None:
    """Note keys of the snapshot being imported, in the add batch's transaction."""
    if keys:
        await tx.execute(q.stage_keys_sql(tx.engine), list_name,
                         keys_arg(tx.engine, sorted(set(keys))))


async def unstage(db: TenantDb, list_name: str) -> None:
    """Forget the noted keys of `list_name` (a leftover of an interrupted import, or the
    finished one's), a timed slice per transaction."""
    batches, after = TimedBatches(first=5_000), 0
    while True:
        with batches.timed(batches.size):
            async with db.transaction() as tx:
                gone = await tx.fetch(q.unstage_sql(tx.engine), list_name, after,
                                      batches.size)
        if not gone:
            return
        after = max(row[0] for row in gone)


async def lift_gone(db: TenantDb, *, channel: str, list_name: str, source: str) -> int:
    """Lift the list's suppressions of numbers not in the snapshot; how many were lifted.
    Each page is one short transaction (the feed lock first, so nothing slips in between
    the look-up and the lift), sized by time."""
    lifted, after = 0, 0
    batches = TimedBatches()
    while True:
        with batches.timed(batches.size):
            async with db.transaction() as tx:
                await tx.lock_feed()
                rows = await tx.fetch(q.gone_page_sql(tx.engine), channel, list_name, after,
                                      batches.size)
                by_topic: dict[str, list[str]] = {}
                for row in rows:
                    by_topic.setdefault(row[2], []).append(row[1])
                for topic, keys in by_topic.items():
                    lifted += len(await remove_suppressions(
                        tx, channel=channel, address_keys=keys, reason="external_list",
                        source=source, topic=topic))
        if len(rows) < batches.size:
            return lifted
        after = rows[-1][0]


async def record_list(db: TenantDb, *, name: str, channel: str, as_of: date) -> int:
    """Record the list's date and size (the keys noted); returns the size."""
    size = int(await db.fetchval(q.STAGED_COUNT, name))
    async with db.transaction() as tx:
        await tx.execute(q.UPSERT_LIST, name, channel, as_of.isoformat(), size,
                         datetime.now(UTC))
    return size
