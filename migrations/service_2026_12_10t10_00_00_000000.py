"""PostgreSQL: an index of the restricted contacts (`contact_tenant_restricted`), for the checks.

Every check reads whether the contact holding the address is restricted (GDPR art. 18; the
`'r'` part of service/consent/state_queries.py). Without this index PostgreSQL answers that
part of a bulk chunk of 10,000 keys by probing `address` once more per key and `contact` per
address found (~65 ms of a chunk's ~270 ms on the 1,000,000-suppression benchmark, 200,000
contacts), or, in a custom plan, by reading the whole contact table. Restricted contacts are
few, so a partial index of them is tiny: the bulk check's plan starts from it (a tenant with
none answers the part from two index pages, 0.07 ms), and the single check, after its probe of
`address`, reads it in place of contact's primary key. Measured in bench/NOTES.md ("Issue 18:
the checks paired…").

SQLite has no such index: its bulk statement fixes the join order (keys, then `address`, then
`contact` by primary key), and without statistics its planner could start a single check
from the partial index whatever its size.

CREATE INDEX CONCURRENTLY, so contacts can be written while it builds (hence no transaction);
an invalid index left by a failed build is dropped first. It can run again.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-10T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "PostgreSQL: a partial index of the restricted contacts, for the checks"
NAME = "contact_tenant_restricted"
INVALID = ("SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
           f" WHERE NOT i.indisvalid AND c.relname = '{NAME}'")
CREATE = (f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON contact (tenant_id, id)"
          " WHERE restricted")


class _Raw(Table, tablename="contact"):
    """Only a handle for running raw statements on the migration's engine."""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION,
                               wrap_in_transaction=False)

    async def build():
        if _Raw._meta.db.engine_type == "sqlite":
            return
        if await _Raw.raw(INVALID):
            await _Raw.raw(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
        await _Raw.raw(CREATE)

    manager.add_raw(build)
    return manager
