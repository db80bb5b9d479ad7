"""The inbound SMS messages seen, by provider and message id (issue 15).

Raw SQL on both engines, like the other hand-written migrations: the id column is the one
spelling that differs (SQLite's INTEGER PRIMARY KEY, PostgreSQL's SERIAL), so the statement
is chosen by the migration's engine. The unique index is what makes a provider's retry of the
same message write nothing twice.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-06T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sms_message: inbound SMS by provider message id"

COLUMNS = (
    "provider VARCHAR(16) NOT NULL DEFAULT '',"
    " message_id VARCHAR(100) NOT NULL DEFAULT '',"
    " received_at TIMESTAMPTZ NOT NULL,"
    " outcome VARCHAR(32) NOT NULL DEFAULT ''"
)
CREATE = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS sms_message (id INTEGER PRIMARY KEY, {COLUMNS})",
    "postgres": f"CREATE TABLE IF NOT EXISTS sms_message (id SERIAL PRIMARY KEY, {COLUMNS})",
}
INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS sms_message_provider_id"
         " ON sms_message (provider, message_id)")


class _Raw(Table, tablename="sms_message"):
    """Only a handle for running raw statements on the migration's engine."""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def create_table():
        engine = "sqlite" if _Raw._meta.db.engine_type == "sqlite" else "postgres"
        await _Raw.raw(CREATE[engine])
        await _Raw.raw(INDEX)

    manager.add_raw(create_table)
    return manager
