"""Printed opt-out codes for post and fax (`opt_out_code`, service/codes).

Raw SQL valid on SQLite and PostgreSQL, like the index migrations: the code's keyed hash is the
primary key (a typed code is found by one index probe), and the codes go with their contact on
erasure (ON DELETE CASCADE; the SQLite connections run with foreign keys on).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-06T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "printed opt-out codes"


class _Raw(Table, tablename="opt_out_code"):
    """Only a handle for running raw statements on the migration's engine."""


STATEMENTS = [
    "CREATE TABLE IF NOT EXISTS opt_out_code ("
    " code_hash VARCHAR(64) NOT NULL PRIMARY KEY,"
    " contact_id VARCHAR(36) NOT NULL REFERENCES contact (id) ON DELETE CASCADE,"
    " channel VARCHAR(8) NOT NULL,"
    " topic VARCHAR(64) NOT NULL,"
    " campaign VARCHAR(200) NOT NULL,"
    " created_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX IF NOT EXISTS opt_out_code_contact_id ON opt_out_code (contact_id)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def create_table():
        for statement in STATEMENTS:
            await _Raw.raw(statement)

    manager.add_raw(create_table)
    return manager
