"""Migration T1 of tenants (2026-12-09T10:00, the expand half) on a database the previous
release filled: every row stays as it was and belongs to the default tenant (1), the old
indexes and uniques stay, and the previous release's raw INSERTs, which name no tenant, still
work and land in tenant 1. Both engines, through Piccolo's own forwards and the real
`python -m service migrate`.

The rows are written with raw SQL in the previous release's shape (no tenant_id), not through
the service's code or tests/db/plans.py, which will come to name tenant_id."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from service.db.engine import Database
from service.db.tables import TENANT_OWNED
from tests.conftest import ENGINES, ROOT, migrate, scratch_pg_database
from tests.db.plans import fake_key

BEFORE_T1 = "2026-12-08T01:00:00:000000"
N = 200
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def migrate_upto(url: str, data_dir, migration_id: str) -> None:
    """Piccolo's forwards up to and including `migration_id`, as `migrate` runs them."""
    code = ("import asyncio, os\n"
            "os.environ.setdefault('PICCOLO_CONF', 'service.db.piccolo_conf')\n"
            "from piccolo.apps.migrations.commands.forwards import run_forwards\n"
            f"run = run_forwards(app_name='service', migration_id={migration_id!r})\n"
            "raise SystemExit(0 if asyncio.run(run).success else 1)")
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(data_dir), "ENVIRONMENT": "test",
           "SECRET_KEYS": "test-secret-key-0123456789", "HASH_KEY": "test-hash-key-0123456789"}
    env.pop("PICCOLO_CONF", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(params=ENGINES)
def url_before_t1(request, tmp_path):
    """A database migrated up to the migration before T1."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'before.db'}"
        migrate_upto(url, tmp_path, BEFORE_T1)
        yield url
        return
    with scratch_pg_database("tenant_t1") as url:
        migrate_upto(url, tmp_path, BEFORE_T1)
        yield url


# Every tenant-owned table gets rows, as the previous release writes them (no tenant_id).
MANY = {
    "INSERT INTO contact (id, external_ref, restricted, created_at, updated_at)"
    " VALUES ($1, $2, FALSE, $3, $3)": lambda i: (f"c{i}", f"ref{i}" if i % 3 else None, NOW),
    "INSERT INTO address (contact_id, channel, address_key, normalized, given, created_at)"
    " VALUES ($1, 'email', $2, $3, $3, $4)": lambda i: (f"c{i}", fake_key(i), f"u{i}@x.org", NOW),
    "INSERT INTO consent_event (contact_id, channel, topic, action, source, occurred_at)"
    " VALUES ($1, 'email', '', 'opt_in', 'test', $2)": lambda i: (f"c{i}", NOW),
    "INSERT INTO preference (contact_id, channel, topic, status, updated_at, seq)"
    " VALUES ($1, 'email', '', 'opted_in', $2, $3)": lambda i: (f"c{i}", NOW, i),
    "INSERT INTO suppression (channel, address_key, topic, reason, source, created_at, seq)"
    " VALUES ('email', $1, '', 'unsubscribed', 'test', $2, $3)": lambda i: (fake_key(i), NOW, i),
    "INSERT INTO change_feed (kind, op, channel, address_key, topic, value, source, occurred_at)"
    " VALUES ('suppression', 'added', 'email', $1, '', 'unsubscribed', 'test', $2)":
        lambda i: (fake_key(i), NOW),
    "INSERT INTO send_log (channel, address_key, topic, sent_at, campaign)"
    " VALUES ('email', $1, 'news', $2, NULL)": lambda i: (fake_key(i), NOW),
    "INSERT INTO soft_bounce (channel, address_key, occurred_at)"
    " VALUES ('email', $1, $2)": lambda i: (fake_key(i), NOW),
}
MANY_FEED = next(sql for sql in MANY if sql.startswith("INSERT INTO change_feed"))
FEW = [
    "INSERT INTO topic (key, name, channels, created_at, updated_at)"
    " VALUES ('news', 'News', '[\"email\"]', $1, $1)",
    "INSERT INTO wording_version (key, text, created_at) VALUES ('w1', 'Yes please', $1)",
    "INSERT INTO ledger_checkpoint (created_at, last_event_id, chains, events, digest)"
    " VALUES ($1, 0, 0, 0, '')",
    "INSERT INTO api_key (name, prefix, secret_hash, scopes, created_at)"
    " VALUES ('crm', 'abc123def456', 'h', 'admin', $1)",
    "INSERT INTO outbox (kind, payload, dedupe_key, next_attempt_at, created_at)"
    " VALUES ('email', '{}', 'link:1', $1, $1)",
    "INSERT INTO webhook_subscription (url, secret, created_at)"
    " VALUES ('https://crm.example/h', 's', $1)",
    "INSERT INTO sms_message (provider, message_id, received_at, outcome)"
    " VALUES ('twilio', 'SM1', $1, 'stop')",
    "INSERT INTO opt_out_code (code_hash, contact_id, channel, topic, campaign, created_at)"
    " VALUES ('h1', 'c1', 'post', '', '', $1)",
    "INSERT INTO external_list (name, channel, as_of, size, imported_at)"
    " VALUES ('tps', 'sms', '2026-11-30', 3, $1)",
    "INSERT INTO external_list_key (list_name, address_key) VALUES ('tps', 'k1')",
]


async def columns_of(db: Database, table: str) -> list[str]:
    if db.is_sqlite:
        return [r["name"] for r in await db.fetch(f"PRAGMA table_info({table})")]
    return [r[0] for r in await db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
        " ORDER BY ordinal_position", table)]


async def indexes_of(db: Database) -> set[str]:
    if db.is_sqlite:
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type = 'index'")
    else:
        rows = await db.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return {r[0] for r in rows}


async def rows_of(db: Database, table: str, columns: list[str]) -> list[str]:
    """Every row's values in `columns`, in an order that does not depend on storage."""
    rows = await db.fetch(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608
    return sorted(repr(tuple(r)) for r in rows)


async def opened(url: str) -> Database:
    db = Database(url, synchronous="NORMAL")
    await db.open()
    return db


async def test_t1_keeps_every_row_in_the_default_tenant_and_the_old_inserts_work(
        url_before_t1, tmp_path):
    db = await opened(url_before_t1)
    try:
        async with db.transaction() as tx:
            for sql, row in MANY.items():
                await tx.executemany(sql, [row(i) for i in range(N)])
            for sql in FEW:
                await tx.execute(sql, *((NOW,) if "$1" in sql else ()))
        old_columns = {t: await columns_of(db, t) for t in TENANT_OWNED}
        before = {t: await rows_of(db, t, old_columns[t]) for t in TENANT_OWNED}
        old_indexes = await indexes_of(db)
    finally:
        await db.close()  # nothing open across the ALTERs (PostgreSQL's cached statements)
    assert all(before.values()) and "tenant_id" not in old_columns["contact"]

    migrate(url_before_t1, tmp_path)

    db = await opened(url_before_t1)
    try:
        for table in TENANT_OWNED:
            assert await rows_of(db, table, old_columns[table]) == before[table], table
            assert await db.fetchval(
                f"SELECT COUNT(*) FROM {table} WHERE tenant_id = 1") == len(before[table])
        assert old_indexes <= await indexes_of(db)  # nothing dropped: that is T2

        # the previous release's writes: no tenant_id named, its ON CONFLICT arbiters intact
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO contact (id, external_ref, restricted, created_at,"
                             " updated_at) VALUES ('new', 'ref-new', FALSE, $1, $1)", NOW)
            await tx.execute(
                "INSERT INTO address (contact_id, channel, address_key, normalized, given,"
                " created_at) VALUES ('new', 'email', $1, 'n@x.org', 'n@x.org', $2)"
                " ON CONFLICT (channel, address_key) DO NOTHING", fake_key(N), NOW)
            for i in (0, N):  # one already there (kept as it was), one new
                await tx.execute(
                    "INSERT INTO suppression (channel, address_key, topic, reason, source,"
                    " created_at, seq) VALUES ('email', $1, '', 'unsubscribed', 'old', $2, 0)"
                    " ON CONFLICT (channel, address_key, topic, reason) DO NOTHING",
                    fake_key(i), NOW)
            await tx.execute(MANY_FEED, fake_key(N), NOW)
            await tx.execute("INSERT INTO send_log (channel, address_key, topic, sent_at)"
                             " VALUES ('email', $1, 'news', $2)", fake_key(N), NOW)
        for table, where in (("contact", "id = 'new'"), ("address", "contact_id = 'new'"),
                             ("suppression", "source = 'old'"), ("change_feed", "seq > 0"),
                             ("send_log", "sent_at IS NOT NULL")):
            tenants = await db.fetch(f"SELECT DISTINCT tenant_id FROM {table} WHERE {where}")
            assert [r[0] for r in tenants] == [1], table
        assert await db.fetchval("SELECT COUNT(*) FROM suppression") == N + 1
        assert await db.fetchval("SELECT COUNT(*) FROM change_feed") == N + 1

        # the default tenant is id 1; the next one created gets the next id
        assert tuple(await db.fetchrow("SELECT id, slug FROM tenant")) == (1, "default")
        async with db.transaction() as tx:
            next_id = await tx.fetchval(
                "INSERT INTO tenant (slug, name, created_at, updated_at)"
                " VALUES ('b', 'B', $1, $1) RETURNING id", NOW)
        assert next_id == 2
    finally:
        await db.close()

