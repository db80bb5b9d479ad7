"""One tenant's view of the database (issue 18): the raw connections, with the tenant's id put
in front of the arguments of every `Scoped` statement (service/db/scoped.py).

`Runtime.db` is such a view (the default tenant's, or the request's tenant's through
`Runtime.for_tenant`), so capability code calls `rt.db.fetch(q.X, a, b)` as before and every
tenant-owned statement reads `tenant_id = $1`. Plain statements pass through unchanged (the
cross-tenant ones: API-key look-up by prefix, the outbox claim, migrations, tests' raw SQL).
The view costs one class check and one tuple per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from service.db.engine import Database
from service.db.scoped import Scoped
from service.db.tx import PostgresTx, SqliteTx


class _ScopedReads:
    """The reads a database and a transaction share: `raw` answers them, with `tenant_id` put
    in front of a `Scoped` statement's arguments."""

    raw: Any
    tenant_id: int

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if sql.__class__ is Scoped:
            return await self.raw.fetch(sql.plain, self.tenant_id, *args)
        return await self.raw.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        if sql.__class__ is Scoped:
            return await self.raw.fetchrow(sql.plain, self.tenant_id, *args)
        return await self.raw.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if sql.__class__ is Scoped:
            return await self.raw.fetchval(sql.plain, self.tenant_id, *args)
        return await self.raw.fetchval(sql, *args)


class TenantDb(_ScopedReads):
    """`Database`'s interface for one tenant; `raw` is the shared `Database` under it."""

    def __init__(self, raw: Database, tenant_id: int):
        self.raw = raw
        self.tenant_id = tenant_id
        self.engine = raw.engine
        self.is_sqlite = raw.is_sqlite
        self.url = raw.url
        self.replicas = raw.replicas

    def __getattr__(self, name: str) -> Any:  # open, close, pool, …: the raw database's
        return getattr(self.raw, name)

    def for_tenant(self, tenant_id: int) -> TenantDb:
        return self if tenant_id == self.tenant_id else TenantDb(self.raw, tenant_id)

    async def fetch_read(self, sql: str, *args: Any, fresh: bool = False) -> list[Any]:
        if sql.__class__ is Scoped:
            return await self.raw.fetch_read(sql.plain, self.tenant_id, *args, fresh=fresh)
        return await self.raw.fetch_read(sql, *args, fresh=fresh)

    async def fetch_long(self, sql: str, *args: Any) -> list[Any]:
        if sql.__class__ is Scoped:
            return await self.raw.fetch_long(sql.plain, self.tenant_id, *args)
        return await self.raw.fetch_long(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[TenantTx]:
        async with self.raw.transaction() as tx:
            yield TenantTx(tx, self.tenant_id)


class TenantTx(_ScopedReads):
    """A write transaction (`SqliteTx` or `PostgresTx`, as `raw`) for one tenant."""

    def __init__(self, raw: SqliteTx | PostgresTx, tenant_id: int):
        self.raw = raw
        self.tenant_id = tenant_id
        self.engine = raw.engine

    def __getattr__(self, name: str) -> Any:  # conn, after_commit, copy_*: the raw tx's
        return getattr(self.raw, name)

    async def execute(self, sql: str, *args: Any) -> int:
        if sql.__class__ is Scoped:
            return await self.raw.execute(sql.plain, self.tenant_id, *args)
        return await self.raw.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if sql.__class__ is Scoped:
            tenant = self.tenant_id
            rows = [(tenant, *row) for row in rows]
            sql = sql.plain
        await self.raw.executemany(sql, rows)

    async def lock_feed(self) -> None:
        """The change feed's lock of this tenant: its writers commit their sequence numbers in
        order, while other tenants' writers go on (decision D5, docs/plans/tenants.md)."""
        await self.raw.lock_feed(self.tenant_id)
