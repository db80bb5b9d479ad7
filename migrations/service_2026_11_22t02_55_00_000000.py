"""Composite unique constraints and multi-column indexes for the hot look-ups.

Raw SQL valid on SQLite and PostgreSQL, because Piccolo's composite `Unique` crashes on SQLite.
A separate migration because Piccolo runs a migration's raw steps before its table steps.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-22T02:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique constraints and look-up indexes"


class _Raw(Table, tablename="contact"):
    """Only a handle for running raw statements on the migration's engine."""


INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS address_channel_key ON address (channel, address_key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS preference_contact_channel_topic"
    " ON preference (contact_id, channel, topic)",
    "CREATE UNIQUE INDEX IF NOT EXISTS suppression_channel_key_topic_reason"
    " ON suppression (channel, address_key, topic, reason)",
    "CREATE INDEX IF NOT EXISTS suppression_seq ON suppression (seq)",
    "CREATE INDEX IF NOT EXISTS suppression_reason ON suppression (reason, channel)",
    "CREATE INDEX IF NOT EXISTS consent_event_contact_id ON consent_event (contact_id, id)",
    "CREATE INDEX IF NOT EXISTS consent_event_occurred ON consent_event (occurred_at)",
    "CREATE INDEX IF NOT EXISTS consent_event_topic ON consent_event (topic, id)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS soft_bounce_key ON soft_bounce (channel, address_key, occurred_at)",
    "CREATE INDEX IF NOT EXISTS change_feed_channel ON change_feed (channel, seq)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def create_indexes():
        for statement in INDEXES:
            await _Raw.raw(statement)

    manager.add_raw(create_indexes)
    return manager
