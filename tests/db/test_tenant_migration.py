"""Migrations T1 and T2 of tenants (2026-12-09T10:00 the expand half, T11:00 the contract half)
on a database the previous release filled. T1: every row stays as it was and belongs to the
default tenant (1), the old indexes and uniques stay, and the previous release's raw INSERTs,
which name no tenant, still work and land in tenant 1. T2: the rows stay, every foreign key
child of contact too (SQLite rebuilds contact), the old indexes and uniques are gone, so the
same external_ref, topic key, address, ... can be in two tenants but not twice in one, and
running it again changes nothing. Both engines, through the real `python -m service migrate`
(`--upto` for T1 alone, as a PostgreSQL rolling deploy runs it).

The rows are written with raw SQL in the previous release's shape (no tenant_id), not through
the service's code or tests/db/plans.py, which will come to name tenant_id."""

from __future__ import annotations

import importlib
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import asyncpg
import pytest

from service.db.engine import Database
from service.db.migrate import pending_migrations
from service.db.sqlite import sqlite_path
from service.db.tables import TENANT_OWNED
from tests.conftest import ENGINES, ROOT, scratch_pg_database
from tests.db.plans import fake_key

T2 = importlib.import_module("migrations.service_2026_12_09t11_00_00_000000")
BEFORE_T1 = "2026-12-08T01:00:00:000000"
T1_ID = "2026-12-09T10:00:00:000000"
N = 200
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# the old uniques of T2: (table, PostgreSQL constraint) of the inline ones, and the indexes
INLINE = {(table, constraint) for table, _, constraint in T2.INLINE_UNIQUES}
OLD_UNIQUE_INDEXES = {"address_channel_key", "preference_contact_channel_topic",
                      "suppression_channel_key_topic_reason", "sms_message_provider_id",
                      "external_list_key_list_key"}


def run_migrate(url: str, data_dir, *args: str) -> subprocess.CompletedProcess:
    """`python -m service migrate [args]` on `url`."""
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(data_dir), "ENVIRONMENT": "test",
           "SECRET_KEYS": "test-secret-key-0123456789", "HASH_KEY": "test-hash-key-0123456789"}
    env.pop("PICCOLO_CONF", None)
    return subprocess.run([sys.executable, "-m", "service", "migrate", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)


def migrate(url: str, data_dir, *args: str) -> None:
    result = run_migrate(url, data_dir, *args)
    assert result.returncode == 0, result.stdout + result.stderr


def migrate_upto(url: str, data_dir, migration_id: str) -> None:
    """The migrations up to and including `migration_id`: `migrate --upto`."""
    migrate(url, data_dir, "--upto", migration_id)


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


async def inline_uniques_of(db: Database) -> set[tuple[str, str]]:
    """(table, constraint) of T2's inline uniques still there (SQLite: named as on PG)."""
    if db.is_sqlite:
        conn = sqlite3.connect(sqlite_path(db.url))
        try:
            return {(t, name) for t, column, name in T2.INLINE_UNIQUES
                    if T2.has_inline_unique(conn, t, column)}
        finally:
            conn.close()
    rows = await db.fetch("SELECT conrelid::regclass::text, conname FROM pg_constraint"
                          " WHERE contype = 'u'")
    return {tuple(r) for r in rows} & INLINE


async def schema_of(db: Database) -> list[tuple]:
    """Every table, index, constraint and column definition, as text."""
    if db.is_sqlite:
        rows = await db.fetch("SELECT type, name, tbl_name, sql FROM sqlite_master")
    else:
        rows = [*await db.fetch("SELECT tablename, indexname, indexdef FROM pg_indexes"
                                " WHERE schemaname = 'public'"),
                *await db.fetch("SELECT conrelid::regclass::text, conname,"
                                " pg_get_constraintdef(oid) FROM pg_constraint"
                                " WHERE connamespace = 'public'::regnamespace"),
                *await db.fetch("SELECT table_name, column_name, data_type, column_default,"
                                " is_nullable FROM information_schema.columns"
                                " WHERE table_schema = 'public'")]
    return sorted(tuple(str(v) for v in r) for r in rows)


async def rows_of(db: Database, table: str, columns: list[str]) -> list[str]:
    """Every row's values in `columns`, in an order that does not depend on storage."""
    rows = await db.fetch(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608
    return sorted(repr(tuple(r)) for r in rows)


async def opened(url: str) -> Database:
    db = Database(url, synchronous="NORMAL")
    await db.open()
    return db


async def fill(url: str) -> None:
    db = await opened(url)
    try:
        async with db.transaction() as tx:
            for sql, row in MANY.items():
                await tx.executemany(sql, [row(i) for i in range(N)])
            for sql in FEW:
                await tx.execute(sql, *((NOW,) if "$1" in sql else ()))
    finally:
        await db.close()  # nothing open across the ALTERs (PostgreSQL's cached statements)


async def test_t1_keeps_every_row_in_the_default_tenant_and_the_old_inserts_work(
        url_before_t1, tmp_path):
    await fill(url_before_t1)
    db = await opened(url_before_t1)
    try:
        old_columns = {t: await columns_of(db, t) for t in TENANT_OWNED}
        before = {t: await rows_of(db, t, old_columns[t]) for t in TENANT_OWNED}
        old_indexes = await indexes_of(db)
        assert await inline_uniques_of(db) == INLINE
    finally:
        await db.close()
    assert all(before.values()) and "tenant_id" not in old_columns["contact"]

    migrate_upto(url_before_t1, tmp_path, T1_ID)  # T1 alone, as a rolling deploy runs it

    db = await opened(url_before_t1)
    try:
        for table in TENANT_OWNED:
            assert await rows_of(db, table, old_columns[table]) == before[table], table
            assert await db.fetchval(
                f"SELECT COUNT(*) FROM {table} WHERE tenant_id = 1") == len(before[table])
        assert old_indexes <= await indexes_of(db)  # nothing dropped: that is T2
        assert await inline_uniques_of(db) == INLINE
        assert await db.fetchval("SELECT COUNT(*) FROM migration WHERE name = $1", T2.ID) == 0
        # the new code is ready on T1: the contract migration is not waited for
        assert await pending_migrations(db) == set()

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


# A row of each table with a unique that T2 makes per tenant, in tenant $1; (sql, extra args).
# The same row in another tenant inserts; in the same tenant, it breaks a unique.
PER_TENANT = [
    ("INSERT INTO contact (id, external_ref, restricted, created_at, updated_at, tenant_id)"
     " VALUES ($2, 'ref1', FALSE, $3, $3, $1)", ("id", NOW)),
    ("INSERT INTO address (contact_id, channel, address_key, normalized, given, created_at,"
     " tenant_id) VALUES ($2, 'email', $3, 'u1@x.org', 'u1@x.org', $4, $1)",
     ("id", fake_key(1), NOW)),
    ("INSERT INTO suppression (channel, address_key, topic, reason, source, created_at, seq,"
     " tenant_id) VALUES ('email', $2, '', 'unsubscribed', 'test', $3, 0, $1)",
     (fake_key(1), NOW)),
    ("INSERT INTO topic (key, name, channels, created_at, updated_at, tenant_id)"
     " VALUES ('news', 'News', '[\"email\"]', $2, $2, $1)", (NOW,)),
    ("INSERT INTO wording_version (key, text, created_at, tenant_id)"
     " VALUES ('w1', 'Yes please', $2, $1)", (NOW,)),
    ("INSERT INTO outbox (kind, payload, dedupe_key, next_attempt_at, created_at, tenant_id)"
     " VALUES ('email', '{}', 'link:1', $2, $2, $1)", (NOW,)),
    ("INSERT INTO sms_message (provider, message_id, received_at, outcome, tenant_id)"
     " VALUES ('twilio', 'SM1', $2, 'stop', $1)", (NOW,)),
    ("INSERT INTO external_list (name, channel, as_of, size, imported_at, tenant_id)"
     " VALUES ('tps', 'sms', '2026-11-30', 3, $2, $1)", (NOW,)),
    ("INSERT INTO external_list_key (list_name, address_key, tenant_id)"
     " VALUES ('tps', 'k1', $1)", ()),
]


async def insert_per_tenant(db: Database, sql: str, extra: tuple, tenant: int,
                            contact: str) -> None:
    args = tuple(contact if a == "id" else a for a in extra)
    async with db.transaction() as tx:
        await tx.execute(sql, tenant, *args)


def unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE constraint failed" in str(exc)
    return isinstance(exc, asyncpg.UniqueViolationError)


async def test_t2_drops_the_old_uniques_and_indexes_and_keeps_every_row_and_child(
        url_before_t1, tmp_path):
    await fill(url_before_t1)
    migrate_upto(url_before_t1, tmp_path, T1_ID)
    db = await opened(url_before_t1)
    try:
        columns = {t: await columns_of(db, t) for t in TENANT_OWNED}
        before = {t: await rows_of(db, t, columns[t]) for t in TENANT_OWNED}
        old_indexes = await indexes_of(db)
        if db.is_sqlite:
            definitions = {t: await db.fetch(f"PRAGMA table_info({t})") for t in TENANT_OWNED}
            foreign_keys = {t: await db.fetch(f"PRAGMA foreign_key_list({t})")
                            for t in TENANT_OWNED}
        else:
            foreign_keys = await db.fetch(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2")
    finally:
        await db.close()
    assert OLD_UNIQUE_INDEXES <= old_indexes

    migrate(url_before_t1, tmp_path)  # T2

    db = await opened(url_before_t1)
    try:
        # every row as it was, and the children of the rebuilt contact with them
        for table in TENANT_OWNED:
            assert await rows_of(db, table, columns[table]) == before[table], table
        for table in ("address", "preference", "consent_event", "opt_out_code"):
            assert await db.fetchval(f"SELECT COUNT(*) FROM {table}") == len(before[table])
        if db.is_sqlite:
            assert await db.fetch("PRAGMA foreign_key_check") == []
            # the same columns, types, defaults and foreign keys as before the rebuilds
            for t in TENANT_OWNED:
                assert [tuple(r) for r in await db.fetch(f"PRAGMA table_info({t})")] == [
                    tuple(r) for r in definitions[t]], t
                assert [tuple(r) for r in await db.fetch(f"PRAGMA foreign_key_list({t})")] == [
                    tuple(r) for r in foreign_keys[t]], t
            assert not await db.fetch("SELECT name FROM sqlite_master WHERE name LIKE $1",
                                      T2.REBUILT.format("%"))
        else:
            assert await db.fetch(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2") == foreign_keys

        # the old indexes and uniques are gone; the one the cascade of preference needs is there
        indexes = await indexes_of(db)
        gone = set(T2.dropped("postgres" if not db.is_sqlite else "sqlite"))
        assert gone <= old_indexes and not gone & indexes
        assert "preference_contact_id" in indexes and "preference_contact_id" not in old_indexes
        assert {"address_contact_id", "opt_out_code_contact_id"} <= indexes
        assert await inline_uniques_of(db) == set()
        # and the indexes of the inline uniques (SQLite's autoindexes, PostgreSQL's constraints)
        inline = ({i for i in old_indexes - indexes if i.startswith("sqlite_autoindex_")}
                  if db.is_sqlite else {constraint for _, constraint in INLINE})
        assert len(inline) == len(INLINE)
        assert old_indexes - indexes == gone | inline
        # (and the restricted contacts' index of the migration after T2, PostgreSQL only)
        assert indexes - old_indexes == {"preference_contact_id"} | (
            set() if db.is_sqlite else {"contact_tenant_restricted"})

        # the cascade of an erasure still reaches every child of contact
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM contact WHERE id = 'c1'")
        for table in ("address", "preference", "opt_out_code"):
            assert await db.fetchval(
                f"SELECT COUNT(*) FROM {table} WHERE contact_id = 'c1'") == 0, table
        assert await db.fetchval("SELECT COUNT(*) FROM address") == N - 1

        # a unique is now per tenant: the same row goes in another tenant, not twice in one
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO tenant (id, slug, name, created_at, updated_at)"
                             " VALUES (2, 'b', 'B', $1, $1)", NOW)
        for sql, extra in PER_TENANT:
            await insert_per_tenant(db, sql, extra, 2, "b1")
        for sql, extra in PER_TENANT:  # a new contact id: its external_ref is what clashes
            with pytest.raises(Exception) as raised:  # noqa: PT011 (either engine's error)
                await insert_per_tenant(db, sql, extra, 2,
                                        "b2" if sql.startswith("INSERT INTO contact") else "b1")
            assert unique_violation(raised.value), (sql, raised.value)
        # and api_key.prefix stays global
        with pytest.raises(Exception) as raised:  # noqa: PT011
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO api_key (name, prefix, secret_hash, scopes,"
                                 " created_at, tenant_id) VALUES ('b', 'abc123def456', 'h',"
                                 " 'admin', $1, 2)", NOW)
        assert unique_violation(raised.value)
        schema = await schema_of(db)
        rows = {t: await rows_of(db, t, columns[t]) for t in TENANT_OWNED}
    finally:
        await db.close()

    # migrating again changes nothing: neither `migrate` nor T2's own steps run once more
    migrate(url_before_t1, tmp_path)
    db = await opened(url_before_t1)
    try:
        assert await schema_of(db) == schema
        await db.execute("DELETE FROM migration WHERE name = $1", T2.ID)
    finally:
        await db.close()
    migrate(url_before_t1, tmp_path)
    db = await opened(url_before_t1)
    try:
        assert await schema_of(db) == schema
        assert {t: await rows_of(db, t, columns[t]) for t in TENANT_OWNED} == rows
        assert await db.fetchval("SELECT COUNT(*) FROM migration WHERE name = $1", T2.ID) == 1
    finally:
        await db.close()


async def test_t2_on_sqlite_changes_nothing_when_a_child_of_contact_lost_its_parent(tmp_path):
    """The rebuilds commit only if `PRAGMA foreign_key_check` finds nothing afterwards."""
    path = tmp_path / "orphan.db"
    url = f"sqlite:///{path}"
    migrate_upto(url, tmp_path, BEFORE_T1)
    await fill(url)
    migrate_upto(url, tmp_path, T1_ID)
    conn = sqlite3.connect(path)  # foreign keys off, as a connection starts
    conn.execute("INSERT INTO address (contact_id, channel, address_key, normalized, given,"
                 " created_at) VALUES ('gone', 'email', 'k-gone', 'g@x.org', 'g@x.org',"
                 " '2026-12-01 12:00:00+00:00')")
    conn.commit()
    schema = sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    conn.close()

    result = run_migrate(url, tmp_path)
    assert result.returncode != 0
    assert "foreign_key_check" in result.stdout + result.stderr

    conn = sqlite3.connect(path)
    try:
        assert sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")) == schema
        assert conn.execute("SELECT COUNT(*) FROM contact").fetchone()[0] == N
        assert conn.execute("SELECT COUNT(*) FROM address").fetchone()[0] == N + 1
        conn.execute("DELETE FROM address WHERE contact_id = 'gone'")
        conn.commit()
    finally:
        conn.close()
    migrate(url, tmp_path)  # with the orphan gone, it goes through


def test_an_unknown_upto_is_refused(tmp_path):
    result = run_migrate(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, "--upto", "2026-13-99")
    assert result.returncode == 2 and "--upto" in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("create_sql, column, expected", [
    ('CREATE TABLE "contact" ("id" VARCHAR(36) PRIMARY KEY NOT NULL DEFAULT \'\','
     ' "external_ref" VARCHAR(255) UNIQUE DEFAULT null, tenant_id INTEGER NOT NULL DEFAULT 1)',
     "external_ref",
     'CREATE TABLE "n" ("id" VARCHAR(36) PRIMARY KEY NOT NULL DEFAULT \'\','
     ' "external_ref" VARCHAR(255) DEFAULT null, tenant_id INTEGER NOT NULL DEFAULT 1)'),
    ("CREATE TABLE external_list (id INTEGER PRIMARY KEY, name VARCHAR(32) NOT NULL UNIQUE,"
     " channel VARCHAR(8) NOT NULL)", "name",
     'CREATE TABLE "n" (id INTEGER PRIMARY KEY, name VARCHAR(32) NOT NULL,'
     " channel VARCHAR(8) NOT NULL)"),
    # a UNIQUE in a string, another column's, a comma in a default or CHECK: left alone
    ("CREATE TABLE t (a TEXT DEFAULT 'x, unique', [key] TEXT unique ON CONFLICT ABORT"
     " CHECK (key IN ('a', 'b')), c INT UNIQUE, UNIQUE (a, c)) STRICT", "key",
     "CREATE TABLE \"n\" (a TEXT DEFAULT 'x, unique', [key] TEXT"
     " CHECK (key IN ('a', 'b')), c INT UNIQUE, UNIQUE (a, c)) STRICT"),
])
def test_the_rebuilt_table_is_the_old_one_without_that_unique(create_sql, column, expected):
    assert T2.without_unique(create_sql, column, "n") == expected
    rebuilt = sqlite3.connect(":memory:")
    rebuilt.execute(expected)  # valid SQL
    rebuilt.close()
