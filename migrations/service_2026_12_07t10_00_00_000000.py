"""Frequencies and weekly caps (issue 17): what a topic offers (`topic.frequencies`), what a
person chose (`preference.frequency` on a topic row, `preference.max_per_week` on a
whole-channel row), and the sends mailers record (`send_log`).

Raw SQL on both engines, like the other hand-written migrations (only the id column differs).
- `send_log_address` serves both questions of the rule (sends of one topic to one address, and
  all sends to one address) by its prefix; `send_log_sent_at` lets retention prune by age.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-07T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "frequencies, weekly caps and recorded sends"


class _Raw(Table, tablename="send_log"):
    """Only a handle for running raw statements on the migration's engine."""


def statements(engine: str) -> list[str]:
    big = "INTEGER PRIMARY KEY" if engine == "sqlite" else "BIGSERIAL PRIMARY KEY"
    return [
        "ALTER TABLE topic ADD COLUMN frequencies TEXT NOT NULL DEFAULT '[\"immediate\"]'",
        "ALTER TABLE preference ADD COLUMN frequency VARCHAR(16) DEFAULT NULL",
        "ALTER TABLE preference ADD COLUMN max_per_week INTEGER DEFAULT NULL",
        f"CREATE TABLE IF NOT EXISTS send_log (id {big},"
        " channel VARCHAR(8) NOT NULL, address_key VARCHAR(64) NOT NULL,"
        " topic VARCHAR(64) NOT NULL, sent_at TIMESTAMPTZ NOT NULL,"
        " campaign VARCHAR(200) DEFAULT NULL)",
        "CREATE INDEX IF NOT EXISTS send_log_address"
        " ON send_log (channel, address_key, topic, sent_at)",
        "CREATE INDEX IF NOT EXISTS send_log_sent_at ON send_log (sent_at)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def create():
        for statement in statements(_Raw._meta.db.engine_type):
            await _Raw.raw(statement)

    manager.add_raw(create)
    return manager
