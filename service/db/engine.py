"""Connections for both engines behind one small interface, with kept-open connections.

SQL is written once, in PostgreSQL's `$1` placeholder style; for SQLite the placeholders are
rewritten to `?1` (numbered parameters, which SQLite supports natively).

SQLite: one kept-open reader connection used inline on the event loop (an indexed look-up takes
microseconds, less than a hop to a thread), one kept-open writer connection whose transactions
are serialized by an asyncio lock, opened with `BEGIN IMMEDIATE` and committed in a thread so a
busy lock held by another process, or an fsync, never blocks the loop. Writers that queue up
while a transaction is open share its commit (group commit: each runs in a SAVEPOINT, so a
failing one rolls back alone; every one returns only after the shared COMMIT and its fsync), so
durable commits under load cost one fsync per batch, not per request. The checks read inline on
a kept-open connection of their own; long reads (bulk checks, exports) run in a thread on a few
kept-open connections.

PostgreSQL: an asyncpg pool (prepared statements are cached per connection by asyncpg).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from service.db.replicas import ReplicaSet
from service.db.scoped import refuse_scoped
from service.db.sqlite import begin_immediate, commit, connect_sqlite, sqlite_path, to_sqlite
from service.db.tx import PostgresTx, SqliteTx, pg_pool_options, run_committed

log = logging.getLogger("service.db")
BULK_CONNECTIONS = 4  # idle SQLite connections kept for long reads
WRITER_CACHE_KIB = 65_536  # page cache of the writer: random inserts into large indexes
CHECKPOINT_SECONDS = 0.5  # how often the WAL is copied back into the database file
JOURNAL_SIZE_LIMIT = 64 * 2**20  # the WAL file is cut back to this after a checkpoint


class DatabaseUnavailable(Exception):
    """The database cannot be reached; answered as 503."""


def _connection_lost(exc: BaseException) -> bool:
    """A pooled PostgreSQL connection turned out dead when used (the server restarted, or the
    network dropped it, while it sat idle in the pool): asyncpg only finds out on use."""
    import asyncpg  # PostgreSQL's driver: a SQLite-only deployment never loads it

    return isinstance(exc, ConnectionError | asyncpg.exceptions.ConnectionDoesNotExistError)


class Database:
    """The service's connections to one database (SQLite file or PostgreSQL).

    The whole interface: reads `fetch`, `fetchrow`, `fetchval` (short, on the primary),
    `fetch_read` (the checks: replica-eligible, plain tuples), `fetch_long` (long reads, off the
    event loop on SQLite); writes `execute` (one statement) and `transaction()`; `is_sqlite`
    for engine-specific SQL; `open()` and `close()`. The statements themselves live in each
    capability's `queries.py`."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 10_000,
        synchronous: str = "FULL",
        pool_min: int = 2,
        pool_max: int = 10,
        replica_urls: Sequence[str] = (),
        replica_max_lag: float = 1.0,
    ):
        self.url = url
        self.engine = "sqlite" if url.startswith("sqlite") else "postgres"
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        self.pool_min, self.pool_max = pool_min, pool_max
        self._reader: sqlite3.Connection | None = None
        self._hot: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._bulk: list[sqlite3.Connection] = []  # idle kept-open connections for long reads
        self._write_lock = asyncio.Lock()
        self._batch: asyncio.Future | None = None  # the open SQLite write batch's commit
        self._committer: asyncio.Task | None = None
        self._checkpointer: asyncio.Task | None = None
        self._commits = 0
        self.pool: Any = None
        self.replicas: ReplicaSet | None = (
            ReplicaSet(list(replica_urls), replica_max_lag, dsn=_pg_dsn)
            if replica_urls and self.engine == "postgres" else None
        )
        self._monitor: asyncio.Task | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine == "sqlite"

    # -- life cycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self.is_sqlite:
            path = sqlite_path(self.url)
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._path = path
            self._writer = self._connect()
            self._writer.execute("PRAGMA busy_timeout = 0")  # begin_immediate waits instead
            self._writer.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            if path != ":memory:":
                # Checkpoints off the commit path (see _checkpoints).
                self._writer.execute("PRAGMA wal_autocheckpoint = 0")
                self._writer.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
                self._checkpointer = asyncio.create_task(self._checkpoints())
            self._reader = self._connect()
            self._hot = connect_sqlite(path, self.busy_timeout_ms, self.synchronous, plain=True)
        else:
            import asyncpg  # PostgreSQL's driver: a SQLite-only deployment never loads it

            self.pool = await asyncpg.create_pool(
                _pg_dsn(self.url), min_size=self.pool_min, max_size=self.pool_max,
                **pg_pool_options(),
            )
            if self.replicas is not None:
                await self.replicas.poll_once(self.pool)
                self._monitor = asyncio.create_task(self.replicas.monitor(self.pool))

    def _connect(self) -> sqlite3.Connection:
        return connect_sqlite(self._path, self.busy_timeout_ms, self.synchronous)

    async def _checkpoints(self) -> None:
        """Copy committed WAL pages back into the database file, in a thread, after writes.

        SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, so
        that one write waited for the copy of every page written since (up to 1 s behind a
        running import, which made one-clicks wait too). A PASSIVE checkpoint on a connection
        of its own blocks neither writers nor readers.
        """
        conn = connect_sqlite(self._path, self.busy_timeout_ms, self.synchronous, plain=True)
        done = 0
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_SECONDS)
                if self._commits != done:
                    done = self._commits
                    job = asyncio.ensure_future(
                        asyncio.to_thread(conn.execute, "PRAGMA wal_checkpoint(PASSIVE)"))
                    try:
                        await asyncio.shield(job)
                    except asyncio.CancelledError:  # closing: let the thread finish first
                        await asyncio.gather(job, return_exceptions=True)
                        raise
                    except sqlite3.Error as exc:  # tried again after the next write
                        log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    async def close(self) -> None:
        if self.is_sqlite:
            if self._committer is not None:
                await asyncio.gather(self._committer, return_exceptions=True)
            if self._checkpointer is not None:
                self._checkpointer.cancel()
                await asyncio.gather(self._checkpointer, return_exceptions=True)
                self._checkpointer = None
            for conn in (self._reader, self._writer, self._hot):
                if conn is not None:
                    conn.close()
            self._reader = self._writer = self._hot = None
            while self._bulk:
                self._bulk.pop().close()
        elif self.pool is not None:
            if self._monitor is not None:
                self._monitor.cancel()
                await asyncio.gather(self._monitor, return_exceptions=True)
                self._monitor = None
            if self.replicas is not None:
                await self.replicas.close()
            await self.pool.close()
            self.pool = None

    # -- reads outside a transaction --------------------------------------------------------
    # Five ways to read, by what the read needs. Rows index like tuples (`row[0]`) and, except
    # from `fetch_read`, by name (`row["col"]`), with timestamps as datetimes on both engines.
    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """Every row of a short read on the primary (an indexed look-up, a small listing).
        SQLite runs it inline on the event loop: it takes microseconds, less than a thread hop."""
        refuse_scoped(sql)
        if self.is_sqlite:
            return self._reader.execute(to_sqlite(sql), args).fetchall()
        return await self._pg_read(self.pool.fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """The first row of a short read (as `fetch`), or None."""
        refuse_scoped(sql)
        if self.is_sqlite:
            return self._reader.execute(to_sqlite(sql), args).fetchone()
        return await self._pg_read(self.pool.fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row of a short read (as `fetch`), or None."""
        refuse_scoped(sql)
        if self.is_sqlite:
            row = self._reader.execute(to_sqlite(sql), args).fetchone()
            return None if row is None else row[0]
        return await self._pg_read(self.pool.fetchval, sql, args)

    async def fetch_read(self, sql: str, *args: Any, fresh: bool = False) -> list[Any]:
        """The checks' read (the single check; on PostgreSQL the bulk check's too): plain
        tuples, no type conversion (SQLite hands timestamps back as text). SQLite: inline on a
        kept-open connection of its own. PostgreSQL: a healthy, caught-up replica answers when
        there is one, unless `fresh` (the caller has just written: read-your-writes);
        otherwise, or when the replica fails mid-read, the primary."""
        refuse_scoped(sql)
        if self.is_sqlite:
            return self._hot.execute(to_sqlite(sql), args).fetchall()
        pool = None if fresh or self.replicas is None else self.replicas.pick()
        if pool is not None:
            try:
                return await pool.fetch(sql, *args)
            except Exception as exc:  # replica failed mid-read: the primary answers instead
                log.warning("replica read failed (%s); reading the primary", type(exc).__name__)
        return await self._pg_read(self.pool.fetch, sql, args)

    async def fetch_long(self, sql: str, *args: Any) -> list[Any]:
        """Every row of a read that may take a while (bulk check, feed pages, exports, proofs).
        SQLite: off the event loop, in a thread, on a kept-open connection (a fresh one per
        read would start with a cold page cache). PostgreSQL: as `fetch`."""
        refuse_scoped(sql)
        if not self.is_sqlite:
            return await self._pg_read(self.pool.fetch, sql, args)
        conn = self._bulk.pop() if self._bulk else self._connect()

        def run() -> list[Any]:
            return conn.execute(to_sqlite(sql), args).fetchall()

        # On an error or a cancellation the connection is dropped, not pooled: a cancelled
        # thread may still be using it (it closes when the last reference goes).
        rows = await asyncio.to_thread(run)
        if len(self._bulk) < BULK_CONNECTIONS and self._reader is not None:
            self._bulk.append(conn)
        else:
            conn.close()
        return rows

    async def _pg_read(self, method: Any, sql: str, args: Sequence[Any]) -> Any:
        """A read on the pool, repeated once on a new connection when the pooled one was
        dead (see `_connection_lost`): after a database restart or a network outage the
        first requests would otherwise fail on connections kept from before. Reads are safe
        to repeat; if the database is still down the repeat fails too (503)."""
        try:
            return await method(sql, *args)
        except Exception as exc:
            if not _connection_lost(exc):
                raise
            await self.pool.expire_connections()  # its idle siblings are as old: replace all
            return await method(sql, *args)

    # -- writes -------------------------------------------------------------------------------
    async def execute(self, sql: str, *args: Any) -> int:
        """One statement in its own write transaction (a migration step, a one-off update);
        statements that belong together go in one `transaction()`. Returns the rows changed."""
        async with self.transaction() as tx:
            return await tx.execute(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx | PostgresTx]:
        """A write transaction: `async with db.transaction() as tx:` and statements on `tx`
        (`execute`, `executemany`, `fetch`, `fetchrow`, `fetchval`, `lock_feed`, `after_commit`
        for what must happen only once committed). Commits on exit, rolls back on an
        exception; returns only once the commit is durable."""
        if not self.is_sqlite:
            # BEGIN on a pooled connection that turned out dead (see `_connection_lost`)
            # means nothing was done yet: replace the pool's old connections and begin once
            # more on a new one, so the first writes after a database restart or a network
            # outage do not fail. A failure after BEGIN is never repeated here.
            for attempt in (1, 2):
                stack = AsyncExitStack()
                conn = await stack.enter_async_context(self.pool.acquire())
                try:
                    await stack.enter_async_context(conn.transaction())
                except BaseException as exc:
                    await stack.aclose()  # gives the dead connection back
                    if attempt == 2 or not _connection_lost(exc):
                        raise
                    await self.pool.expire_connections()
                    continue
                break
            async with stack:  # on exit: COMMIT, or ROLLBACK on an error; then release
                tx = PostgresTx(conn)
                yield tx
            run_committed(tx)
            return
        async with self._write_lock:
            conn = self._writer
            if conn is None:
                raise DatabaseUnavailable("database is closed")
            batch = self._batch
            if batch is None:
                # Waiting for another process's write lock happens in a thread (an
                # uncontended BEGIN costs less than the hop); the statements run inline
                # while we hold the lock.
                try:  # the writer has no busy timeout: free, or "locked" at once
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc):
                        raise
                    await asyncio.to_thread(begin_immediate, conn, self.busy_timeout_ms)
                batch = self._batch = asyncio.get_running_loop().create_future()
                # Queued on the lock behind every writer already waiting: they join this
                # commit (group commit), later ones start the next.
                self._committer = asyncio.create_task(self._commit_batch(batch))
            conn.execute("SAVEPOINT tx")
            tx = SqliteTx(conn)
            try:
                yield tx
            except BaseException:
                conn.execute("ROLLBACK TO tx")
                conn.execute("RELEASE tx")
                raise
            conn.execute("RELEASE tx")
        # Durable before the caller goes on: wait for the commit (and its fsync).
        await asyncio.shield(batch)
        run_committed(tx)

    async def _commit_batch(self, batch: asyncio.Future) -> None:
        async with self._write_lock:
            self._batch = None
            try:
                await asyncio.to_thread(commit, self._writer)
            except BaseException as exc:
                batch.set_exception(exc)
                batch.exception()  # retrieved here; every waiter re-raises it
            else:
                self._commits += 1
                batch.set_result(None)


def _pg_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url
