"""The ledger's per-contact paging index.

The first index migration asked for `consent_event_contact_id (contact_id, id)`, but Piccolo had
already created a single-column index of that name, so IF NOT EXISTS skipped it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-22T03:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ledger index by contact and id"


class _Raw(Table, tablename="consent_event"):
    """Only a handle for running raw statements on the migration's engine."""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def create_index():
        await _Raw.raw(
            "CREATE INDEX IF NOT EXISTS consent_event_contact_seq ON consent_event (contact_id, id)"
        )

    manager.add_raw(create_index)
    return manager
