"""Tenants (issue 18), migration T1, the expand half (docs/plans/tenants.md §5): the `tenant`
table with the default tenant (id 1), `tenant_id INTEGER NOT NULL DEFAULT 1` on every
tenant-owned table, the tenant-leading indexes, and the global `shared_bounce` table.

Nothing is dropped: every old index and unique stays until T2 (the contract half), so the
previous release keeps its ON CONFLICT arbiters and its index paths while it still runs on
this schema (a rolling deploy on PostgreSQL). Its INSERTs name no tenant_id and land in the
default tenant through the column default. A new unique that leads with tenant_id and otherwise
equals an old unique is implied by it, so building it can never fail on existing rows.

- The columns cost no rewrite: SQLite keeps the default in the schema and old rows read it;
  PostgreSQL (11 or later) stores it as the missing-value default. No foreign key to `tenant`:
  SQLite refuses ADD COLUMN ... REFERENCES with a non-NULL default while foreign keys are on,
  and tenants are never deleted.
- The indexes are plain CREATE INDEX, so a table is locked against writes while its index
  builds (the whole migration took 12 s on SQLite, 17 s on PostgreSQL, at 1,000,000
  suppressions and sends and 200,000 contacts, addresses, preferences, events and feed
  entries, on 2 cores). A large PostgreSQL deployment can build them beforehand with
  `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS` under the same names (INDEXES below,
  DEPLOY.md): IF NOT EXISTS then skips them here. A concurrent build that failed leaves an
  invalid index of that name, which IF NOT EXISTS would also skip; this migration drops such
  an index and builds it again.
- Not one transaction (`wrap_in_transaction=False`): each statement commits alone, so a write
  lock lasts one table's index build, not the whole migration. Every step can run again (IF
  NOT EXISTS; SQLite has no ADD COLUMN IF NOT EXISTS, so its columns are read first).
"""

from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

from service.settings import get_settings

ID = "2026-12-09T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tenants T1 (expand): tenant table, tenant_id columns, tenant-leading indexes"

# The tables as of this migration (service.db.tables.TENANT_OWNED names the same ones; a test
# compares them). Kept here, not imported, so that a table added later is not altered here
# before the migration creating it has run.
TENANT_OWNED = (
    "contact", "address", "topic", "wording_version", "consent_event", "ledger_checkpoint",
    "preference", "suppression", "change_feed", "api_key", "outbox", "webhook_subscription",
    "soft_bounce", "sms_message", "opt_out_code", "external_list", "external_list_key",
    "send_log",
)

# (name, table, what it indexes, unique); the same names on both engines.
INDEXES = (
    ("contact_tenant_ref", "contact", "tenant_id, external_ref", True),
    ("contact_tenant_id", "contact", "tenant_id, id", False),
    ("address_tenant_channel_key", "address", "tenant_id, channel, address_key", True),
    ("address_tenant_contact_channel", "address", "tenant_id, contact_id, channel", False),
    ("topic_tenant_key", "topic", "tenant_id, key", True),
    ("wording_version_tenant_key", "wording_version", "tenant_id, key", True),
    ("consent_event_tenant_contact_seq", "consent_event", "tenant_id, contact_id, id", False),
    ("consent_event_tenant_occurred", "consent_event", "tenant_id, occurred_at", False),
    ("consent_event_tenant_topic", "consent_event", "tenant_id, topic, id", False),
    ("ledger_checkpoint_tenant", "ledger_checkpoint", "tenant_id, id", False),
    ("preference_tenant_contact_channel_topic", "preference",
     "tenant_id, contact_id, channel, topic", True),
    ("suppression_tenant_channel_key_topic_reason", "suppression",
     "tenant_id, channel, address_key, topic, reason", True),
    ("suppression_tenant_seq", "suppression", "tenant_id, seq", False),
    ("suppression_tenant_reason", "suppression", "tenant_id, reason, channel", False),
    ("suppression_tenant_list_name", "suppression", "tenant_id, list_name, id", False),
    ("suppression_tenant_contact", "suppression", "tenant_id, contact_id", False),
    ("change_feed_tenant_seq", "change_feed", "tenant_id, seq", False),
    ("change_feed_tenant_channel", "change_feed", "tenant_id, channel, seq", False),
    ("api_key_tenant", "api_key", "tenant_id, id", False),
    ("outbox_tenant_dedupe", "outbox", "tenant_id, dedupe_key", True),
    ("webhook_subscription_tenant", "webhook_subscription", "tenant_id, id", False),
    ("soft_bounce_tenant_key", "soft_bounce", "tenant_id, channel, address_key, occurred_at",
     False),
    ("sms_message_tenant_provider_id", "sms_message", "tenant_id, provider, message_id", True),
    ("external_list_tenant_name", "external_list", "tenant_id, name", True),
    ("external_list_key_tenant_list_key", "external_list_key",
     "tenant_id, list_name, address_key", True),
    # send_log's one index since 2026-12-08T01:00 is the key prefix; its tenant form
    ("send_log_tenant_key_prefix", "send_log", "tenant_id, substr(address_key, 1, 16)", False),
)
# PostgreSQL only, like consent_event_chain: the chains in byte order of their contact ids
PG_INDEXES = (
    ("consent_event_tenant_chain", "consent_event", 'tenant_id, contact_id COLLATE "C", id',
     False),
)


def index_sql(name: str, table: str, columns: str, unique: bool) -> str:
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return f"CREATE {kind} IF NOT EXISTS {name} ON {table} ({columns})"


def indexes(engine: str) -> tuple[tuple[str, str, str, bool], ...]:
    return INDEXES + (PG_INDEXES if engine == "postgres" else ())


def tenant_table(engine: str) -> str:
    # Piccolo's raw() reads `{}` as a placeholder (and drops it when no value is given), so
    # the JSON default '{}' is written '{{}}' (right only in a statement without parameters).
    serial = "INTEGER PRIMARY KEY" if engine == "sqlite" else "SERIAL PRIMARY KEY"
    return (f"CREATE TABLE IF NOT EXISTS tenant (id {serial},"
            " slug VARCHAR(40) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL,"
            " controller_group VARCHAR(64) NULL, settings TEXT NOT NULL DEFAULT '{{}}',"
            " domains TEXT NOT NULL DEFAULT '', created_at TIMESTAMPTZ NOT NULL,"
            " updated_at TIMESTAMPTZ NOT NULL)")


# Piccolo numbers its parameters by the fragments '{{' splits a statement into, so here the
# JSON '{}' is a parameter.
SEED = ("INSERT INTO tenant (id, slug, name, controller_group, settings, domains, created_at,"
        " updated_at) VALUES (1, 'default', {}, NULL, {}, '', {}, {})"
        " ON CONFLICT (id) DO NOTHING")
# the next tenant a SERIAL hands out is 2 or more (id 1 was given, not drawn)
SETVAL = ("SELECT setval(pg_get_serial_sequence('tenant', 'id'),"
          " (SELECT GREATEST(MAX(id), 1) FROM tenant))")

SHARED_BOUNCE = [
    "CREATE TABLE IF NOT EXISTS shared_bounce (channel VARCHAR(8) NOT NULL,"
    " address_key VARCHAR(64) NOT NULL, tenant_id INTEGER NOT NULL,"
    " created_at TIMESTAMPTZ NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS shared_bounce_key"
    " ON shared_bounce (channel, address_key, tenant_id)",
]


def add_columns(engine: str, present: dict[str, set[str]]) -> list[str]:
    """ADD COLUMN tenant_id where missing; `present`: each table's columns (SQLite only)."""
    if engine == "postgres":
        return [f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS tenant_id INTEGER NOT NULL DEFAULT 1"
                for t in TENANT_OWNED]
    return [f"ALTER TABLE {t} ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 1"
            for t in TENANT_OWNED if "tenant_id" not in present[t]]


class _Raw(Table, tablename="tenant"):
    """Only a handle for running raw statements on the migration's engine."""


async def drop_invalid_indexes() -> None:
    """PostgreSQL: drop an index of ours left invalid by a failed CONCURRENTLY pre-build."""
    names = [name for name, *_ in indexes("postgres")]
    rows = await _Raw.raw(
        "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE NOT i.indisvalid AND c.relname = ANY({})", names)
    for row in rows:
        await _Raw.raw(f'DROP INDEX IF EXISTS "{row["name"]}"')


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION,
                               wrap_in_transaction=False)

    async def expand():
        engine = "sqlite" if _Raw._meta.db.engine_type == "sqlite" else "postgres"
        await _Raw.raw(tenant_table(engine))
        now = datetime.now(UTC)
        await _Raw.raw(SEED, get_settings().org_name, "{}", now, now)
        present: dict[str, set[str]] = {}
        if engine == "sqlite":
            for t in TENANT_OWNED:
                present[t] = {r["name"] for r in await _Raw.raw(f"PRAGMA table_info({t})")}
        else:
            await _Raw.raw(SETVAL)
            await drop_invalid_indexes()
        for statement in add_columns(engine, present):
            await _Raw.raw(statement)
        for index in indexes(engine):
            await _Raw.raw(index_sql(*index))
        for statement in SHARED_BOUNCE:
            await _Raw.raw(statement)

    manager.add_raw(expand)
    return manager
