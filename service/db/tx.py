"""Statements inside a write transaction, one class per engine, with the same methods:
`execute`, `executemany`, `fetch`, `fetchrow`, `fetchval`, `lock_feed`, `after_commit`
(PostgreSQL adds the COPY helpers). `Database.transaction()` (service/db/engine.py) yields one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from service.db.scoped import refuse_scoped
from service.db.sqlite import to_sqlite

# Any write that touches the change feed takes this lock until commit, so sequence numbers
# become visible in order and a feed reader never skips one that commits late.
FEED_LOCK_ID = 7_201_558
# Every pooled PostgreSQL connection (the primary's and the replicas'): no JIT. The service's
# statements are index probes; PostgreSQL compiles any statement whose estimated cost passes
# `jit_above_cost`, and a bulk check's chunk of 10,000 keys does in its first five runs on a
# connection (custom plans, before the generic one): 0.45-0.6 s of compiling for a ~0.2 s
# statement (bench/NOTES.md), again on each new connection (asyncpg closes idle ones after
# 5 minutes). A SET, not a startup parameter, so PgBouncer lets it through: run when the pool
# opens a connection and after asyncpg's reset on release, whose RESET ALL would undo it.
PG_SESSION_SETUP = "SET jit = off"


async def _setup_pg_connection(conn: Any) -> None:
    await conn.execute(PG_SESSION_SETUP)


@cache
def pg_pool_options() -> dict[str, Any]:
    """`asyncpg.create_pool` arguments of every pool: the session set-up above."""
    import asyncpg  # PostgreSQL's driver: a SQLite-only deployment never loads it

    class ServiceConnection(asyncpg.Connection):
        def get_reset_query(self) -> str:
            return f"{super().get_reset_query()}\n{PG_SESSION_SETUP};"

    return {"init": _setup_pg_connection, "connection_class": ServiceConnection}


class SqliteTx:
    """Statements inside a write transaction, run inline (we hold the write lock)."""

    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (never after a rollback)."""
        self.committed.append(callback)

    async def execute(self, sql: str, *args: Any) -> int:
        refuse_scoped(sql)
        return self.conn.execute(to_sqlite(sql), args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        refuse_scoped(sql)
        self.conn.executemany(to_sqlite(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        refuse_scoped(sql)
        return self.conn.execute(to_sqlite(sql), args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        refuse_scoped(sql)
        return self.conn.execute(to_sqlite(sql), args).fetchone()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        refuse_scoped(sql)
        row = self.conn.execute(to_sqlite(sql), args).fetchone()
        return None if row is None else row[0]

    async def lock_feed(self, tenant_id: int = 1) -> None:
        """SQLite serializes writers already."""


class PostgresTx:
    engine = "postgres"

    def __init__(self, conn: Any):
        self.conn = conn
        self._feed_locked: set[int] = set()
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (never after a rollback)."""
        self.committed.append(callback)

    async def execute(self, sql: str, *args: Any) -> int:
        refuse_scoped(sql)
        status = await self.conn.execute(sql, *args)
        try:
            return int(status.rsplit(" ", 1)[-1])
        except ValueError:
            return 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        refuse_scoped(sql)
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        refuse_scoped(sql)
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        refuse_scoped(sql)
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        refuse_scoped(sql)
        return await self.conn.fetchval(sql, *args)

    async def copy_records(self, table: str, records: Sequence[Sequence[Any]],
                           columns: Sequence[str]) -> None:
        """COPY rows into a table."""
        await self.conn.copy_records_to_table(table, records=records, columns=list(columns))

    async def copy_to_temp(self, table: str, definition: str, records: Sequence[Sequence[Any]],
                           columns: Sequence[str]) -> None:
        """COPY a batch into a temporary table of this connection, for one set-based statement
        after it: created on first use (it lives as long as the pooled connection), emptied at
        commit and before each use (a transaction may write several batches). The connection
        has no JIT (`PG_SESSION_SETUP`): compiling a bulk statement took 0.7 s of a batch's
        0.75 s."""
        await self.conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {table} ({definition})"
            f" ON COMMIT DELETE ROWS; DELETE FROM {table}")
        await self.copy_records(table, records, columns)

    async def lock_feed(self, tenant_id: int = 1) -> None:
        """The default tenant keeps the one-key lock (a previous release's writers take it
        too during a deploy); another tenant takes the two-key lock (FEED_LOCK_ID, its id),
        a key space of its own, so tenants never wait for each other's writers."""
        if tenant_id not in self._feed_locked:
            if tenant_id == 1:
                await self.conn.execute("SELECT pg_advisory_xact_lock($1)", FEED_LOCK_ID)
            else:
                await self.conn.execute("SELECT pg_advisory_xact_lock($1, $2)",
                                        FEED_LOCK_ID, tenant_id)
            self._feed_locked.add(tenant_id)


def run_committed(tx: SqliteTx | PostgresTx) -> None:
    for callback in tx.committed:
        callback()
