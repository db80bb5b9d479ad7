"""Tenant-scoped statements (issue 18): a statement whose `$1` is the tenant's id.

Every statement on a tenant-owned table is written with `tenant_id = $1` and marked `Scoped`;
the tenant's view of the database (`TenantDb`, service/db/tenant_db.py) puts the id in front of
the caller's arguments, so the call sites keep their shape (`tx.execute(q.X, a, b)`), and the
raw `Database` refuses a `Scoped` statement (`MissingTenant`): code that reaches the database
without a tenant fails loudly instead of reading every tenant's rows.
"""

from __future__ import annotations


class MissingTenant(RuntimeError):
    """A tenant-scoped statement was run on the raw database, with no tenant to put in $1."""


class Scoped(str):
    """A statement whose first parameter (`$1`) is the tenant id; `plain` is the same text
    as a plain `str`, what the engine is handed once the id is in place."""

    plain: str

    def __new__(cls, sql: str) -> Scoped:
        self = super().__new__(cls, sql)
        self.plain = str.__str__(self)
        return self


def refuse_scoped(sql: str) -> None:
    """Raise when a `Scoped` statement reaches the raw database."""
    if sql.__class__ is Scoped:
        raise MissingTenant(f"a tenant-scoped statement needs the tenant's view: {sql[:80]!r}")
