"""Topics gain `sale_or_sharing`: their data goes to third parties (a partner list), so a
recipient's Global Privacy Control signal opts them out (docs/privacy.md).

Raw SQL valid on SQLite and PostgreSQL: every existing topic is not sold or shared (false), as
before; the operator marks partner topics with `PATCH /v1/topics/{key}`.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-07T01:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "topic.sale_or_sharing"


class _Raw(Table, tablename="topic"):
    """Only a handle for running raw statements on the migration's engine."""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def add_column():
        await _Raw.raw(
            "ALTER TABLE topic ADD COLUMN sale_or_sharing BOOLEAN NOT NULL DEFAULT FALSE")

    manager.add_raw(add_column)
    return manager
