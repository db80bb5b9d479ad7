"""PostgreSQL read replicas: which one may answer a read, judged by how far behind it is.

A monitor samples the primary's WAL position and each replica's replay position every
REPLICA_POLL seconds. A replica's lag is the age of the oldest primary sample it has not yet
replayed (0 when it has replayed the latest one). This stays right when a replica silently loses
its connection to the primary (it stops replaying, so its lag grows), unlike
`now() - pg_last_xact_replay_timestamp()`, which also grows on an idle primary. A replica that
lags beyond REPLICA_MAX_LAG_SECONDS, or does not answer, gets no reads until it catches up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.db.tx import pg_pool_options
from service.ops.counters import REPLICA_LAG

log = logging.getLogger("service.db.replicas")
REPLICA_POLL = 0.2
PRIMARY_LSN = "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"
REPLAY_LSN = "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn"


@dataclass
class Replica:
    url: str
    pool: Any = None
    healthy: bool = False
    lag: float | None = None  # seconds; None while unreachable


@dataclass
class ReplicaSet:
    urls: list[str]
    max_lag: float = 1.0
    # URL -> asyncpg DSN: the engine's, passed in (importing it would make engine <-> replicas)
    dsn: Callable[[str], str] = str
    replicas: list[Replica] = field(default_factory=list)
    _samples: deque = field(default_factory=lambda: deque(maxlen=600))  # (time, primary lsn)
    _next: int = 0

    def __post_init__(self) -> None:
        self.replicas = [Replica(url) for url in self.urls]

    def pick(self) -> Any | None:
        """The pool of a healthy replica (round robin), or None: read the primary."""
        healthy = [r for r in self.replicas if r.healthy and r.pool is not None]
        if not healthy:
            return None
        self._next = (self._next + 1) % len(healthy)
        return healthy[self._next].pool

    async def _connect(self, replica: Replica) -> None:
        import asyncpg  # PostgreSQL's driver: a SQLite-only deployment never loads it

        try:
            replica.pool = await asyncpg.create_pool(
                self.dsn(replica.url), min_size=1, max_size=10, timeout=2,
                **pg_pool_options(),
            )
        except Exception as exc:  # a replica that is down must not stop the service
            log.warning("replica %s unreachable: %s", _safe(replica.url), type(exc).__name__)
            replica.pool = None

    async def poll_once(self, primary_pool: Any) -> None:
        now = time.monotonic()
        primary = await primary_pool.fetchval(PRIMARY_LSN)
        self._samples.append((now, int(primary)))
        for replica in self.replicas:
            if replica.pool is None:
                await self._connect(replica)
            if replica.pool is None:
                replica.healthy, replica.lag = False, None
                continue
            try:
                replayed = await asyncio.wait_for(replica.pool.fetchval(REPLAY_LSN), 1.0)
            except Exception:
                replica.healthy, replica.lag = False, None
                continue
            replica.lag = self._lag(int(replayed or 0), now)
            replica.healthy = replica.lag <= self.max_lag

    def _lag(self, replayed: int, now: float) -> float:
        for sampled_at, position in self._samples:
            if position > replayed:
                return now - sampled_at
        return 0.0

    async def monitor(self, primary_pool: Any) -> None:
        while True:
            try:
                await self.poll_once(primary_pool)
            except Exception:  # the primary itself is unreachable: keep replicas as they were
                log.warning("replica monitor could not read the primary's WAL position")
            for replica in self.replicas:
                REPLICA_LAG.labels(_safe(replica.url)).set(
                    replica.lag if replica.lag is not None else float("inf"))
            await asyncio.sleep(REPLICA_POLL)

    async def close(self) -> None:
        for replica in self.replicas:
            if replica.pool is not None:
                await replica.pool.close()
                replica.pool = None


def _safe(url: str) -> str:
    """A URL without its password, for logs and metric labels."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    return f"{scheme}://{creds.split(':')[0]}@{host}"


class RecentWriters:
    """Read-your-writes: API keys that wrote in the last `window` seconds read the primary.

    Kept in Redis when REDIS_URL is set, so a write through one instance sends that caller's
    next check on any instance to the primary; in-process otherwise. Only consulted when
    replicas are configured, so it costs nothing on a single database.
    """

    def __init__(self, window: float, redis_url: str = ""):
        self.window = window
        self._local: dict[int, float] = {}
        self._redis = None
        if redis_url:
            from redis.asyncio import Redis  # only with REDIS_URL set

            self._redis = Redis.from_url(redis_url)

    async def mark(self, caller: int) -> None:
        self._local[caller] = time.monotonic() + self.window
        if self._redis is not None:
            await self._redis.set(f"rw:{caller}", b"1", px=int(self.window * 1000))

    async def wrote_recently(self, caller: int | None) -> bool:
        if caller is None:
            return False
        if self._local.get(caller, 0) > time.monotonic():
            return True
        if self._redis is not None:
            return bool(await self._redis.exists(f"rw:{caller}"))
        return False
