"""National do-not-call lists as dated snapshots (issue 15): `external_list` (a list's date
and size, read by the checks' staleness rule), `external_list_key` (the keys of a snapshot
import in progress, compared with the list's suppressions to lift those that left it), and
an index that pages through one list's suppressions without reading the others.

Raw SQL, as the other index migrations: only the id column differs between the engines.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-06T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "external lists as dated snapshots"


class _Raw(Table, tablename="suppression"):
    """Only a handle for running raw statements on the migration's engine."""


def statements(engine: str) -> list[str]:
    serial = "INTEGER PRIMARY KEY" if engine == "sqlite" else "SERIAL PRIMARY KEY"
    big = "INTEGER PRIMARY KEY" if engine == "sqlite" else "BIGSERIAL PRIMARY KEY"
    return [
        f"CREATE TABLE IF NOT EXISTS external_list (id {serial},"
        " name VARCHAR(32) NOT NULL UNIQUE, channel VARCHAR(8) NOT NULL,"
        " as_of VARCHAR(10) NOT NULL, size BIGINT NOT NULL DEFAULT 0,"
        " imported_at TIMESTAMPTZ NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS external_list_key (id {big},"
        " list_name VARCHAR(32) NOT NULL, address_key VARCHAR(64) NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS external_list_key_list_key"
        " ON external_list_key (list_name, address_key)",
        "CREATE INDEX IF NOT EXISTS suppression_list_name ON suppression (list_name, id)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def create():
        for statement in statements(_Raw._meta.db.engine_type):
            await _Raw.raw(statement)

    manager.add_raw(create)
    return manager
