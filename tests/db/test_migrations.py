"""`python -m service migrate` gives the same schema on both engines, and is idempotent."""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
import uuid

import asyncpg

from service.db.tables import GLOBAL_TABLES, TABLES, TENANT_OWNED
from tests.conftest import PG_BASE_URL, migrate, pg_url

T1 = importlib.import_module("migrations.service_2026_12_09t10_00_00_000000")
T2 = importlib.import_module("migrations.service_2026_12_09t11_00_00_000000")
# The uniques that do not lead with tenant_id on purpose (docs/plans/tenants.md §1): an API key
# is found by its prefix before its tenant is known; primary keys (opt_out_code's is its
# code's random keyed hash, the others are ids) are global.
GLOBAL_UNIQUES = {("api_key", ("prefix",))}
TENANTS = "SELECT id, slug, name, controller_group, settings, domains FROM tenant ORDER BY id"


def sqlite_schema(path) -> dict[str, set[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in tables}
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}
        # (NOT NULL, default) of each tenant_id column
        tenant_id = {t: (bool(r[3]), r[4]) for t in tables
                     for r in conn.execute(f'PRAGMA table_info("{t}")') if r[1] == "tenant_id"}
        tenants = [tuple(r) for r in conn.execute(TENANTS)]
    finally:
        conn.close()
    return {"tables": columns, "indexes": indexes, "tenant_id": tenant_id, "tenants": tenants}


async def pg_schema(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'")
        columns: dict[str, set[str]] = {}
        for r in rows:
            columns.setdefault(r["table_name"], set()).add(r["column_name"])
        indexes = {r["indexname"] for r in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname='public'"
            " AND indexname NOT LIKE '%_pkey'")}
        tenant_id = {r[0]: (r[1] == "NO", r[2]) for r in await conn.fetch(
            "SELECT table_name, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'tenant_id'")}
        tenants = [tuple(r) for r in await conn.fetch(TENANTS)]
    finally:
        await conn.close()
    return {"tables": columns, "indexes": indexes, "tenant_id": tenant_id, "tenants": tenants}


def test_migrate_gives_same_tables_on_both_engines_and_twice_changes_nothing(tmp_path):
    db_path = tmp_path / "fresh.db"
    migrate(f"sqlite:///{db_path}", tmp_path)
    first_sqlite = sqlite_schema(db_path)
    migrate(f"sqlite:///{db_path}", tmp_path)
    assert sqlite_schema(db_path) == first_sqlite

    name = f"mig_{uuid.uuid4().hex[:8]}"

    async def admin(sql):
        conn = await asyncpg.connect(PG_BASE_URL)
        await conn.execute(sql)
        await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        migrate(pg_url(name), tmp_path)
        first_pg = asyncio.run(pg_schema(pg_url(name)))
        migrate(pg_url(name), tmp_path)
        assert asyncio.run(pg_schema(pg_url(name))) == first_pg
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))

    assert first_sqlite["tables"] == first_pg["tables"]
    expected = set(TENANT_OWNED) | set(GLOBAL_TABLES) | {"migration"}
    assert set(first_pg["tables"]) == expected
    # the same indexes on both (PostgreSQL's constraints and chain index aside): the composite
    # uniques lead with tenant_id, the old ones are gone (T2)
    pg_only = {"api_key_prefix_key", "tenant_slug_key", "consent_event_tenant_chain",
               "contact_tenant_restricted"}
    assert first_sqlite["indexes"] == first_pg["indexes"] - pg_only
    for index in ("address_tenant_channel_key", "preference_tenant_contact_channel_topic",
                  "suppression_tenant_channel_key_topic_reason", "preference_contact_id"):
        assert index in first_sqlite["indexes"]
    for index in T2.dropped("postgres"):
        assert index not in first_sqlite["indexes"] and index not in first_pg["indexes"]
    # tenants (T1): every tenant-owned table has tenant_id NOT NULL DEFAULT 1, so that an
    # INSERT naming no tenant lands in the default tenant; shared_bounce names its tenant always
    owned = {t: (True, "1") for t in TENANT_OWNED}
    for schema in (first_sqlite, first_pg):
        assert schema["tenant_id"] == {**owned, "shared_bounce": (True, None)}
        assert schema["tenants"] == [(1, "default", schema["tenants"][0][2], None, "{}", "")]
        assert schema["tenants"][0][2]  # ORG_NAME at migration time
        for name, *_ in T1.indexes("sqlite"):  # the tenant-leading indexes, the same names
            assert name in schema["indexes"]
        assert "shared_bounce_key" in schema["indexes"]
    assert first_sqlite["tenants"] == first_pg["tenants"]
    assert "consent_event_tenant_chain" in first_pg["indexes"]


def test_the_tenant_owned_tables_are_the_tables_and_the_migration_names_them_all():
    assert TENANT_OWNED == tuple(t._meta.tablename for t in TABLES)
    assert len(TENANT_OWNED) == 18
    assert set(T1.TENANT_OWNED) == set(TENANT_OWNED)
    assert not set(GLOBAL_TABLES) & set(TENANT_OWNED)


def test_composite_unique_index_holds_on_sqlite(tmp_path):
    db_path = tmp_path / "u.db"
    migrate(f"sqlite:///{db_path}", tmp_path)
    conn = sqlite3.connect(db_path)
    insert = ("INSERT INTO suppression (channel, address_key, topic, reason, source, created_at)"
              " VALUES ('email', 'k', '', 'unsubscribed', 'api', '2026-01-01 00:00:00+00:00')")
    conn.execute(insert)
    try:
        conn.execute(insert)
        raised = False
    except sqlite3.IntegrityError:
        raised = True
    assert raised


def sqlite_uniques(path) -> set[tuple[str, tuple[str, ...]]]:
    """(table, columns) of every unique index or constraint but the primary keys."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found = set()
        for table in tables:
            for _, name, unique, origin, _ in conn.execute(f'PRAGMA index_list("{table}")'):
                if unique and origin != "pk":
                    columns = tuple(r[2] or "(expression)" for r in conn.execute(
                        f'PRAGMA index_xinfo("{name}")') if r[5])  # key columns only
                    found.add((table, columns))
    finally:
        conn.close()
    return found


PG_UNIQUES = (
    "SELECT t.relname AS table, c.relname AS name, con.conname AS constraint,"
    " ARRAY(SELECT coalesce(a.attname, '(expression)') FROM unnest(i.indkey) WITH ORDINALITY"
    " AS k(attnum, n) LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
    " ORDER BY k.n) AS columns"
    " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
    " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid"
    " WHERE i.indisunique AND NOT i.indisprimary AND t.relnamespace = 'public'::regnamespace")


def test_every_unique_of_a_tenant_owned_table_leads_with_tenant_id(tmp_path):
    """After T2 the same key can be in two tenants, on both engines; api_key.prefix stays
    global, and PostgreSQL's inline uniques left have the names Piccolo gave them."""
    db_path = tmp_path / "uniques.db"
    migrate(f"sqlite:///{db_path}", tmp_path)
    sqlite_found = sqlite_uniques(db_path)

    name = f"mig_{uuid.uuid4().hex[:8]}"

    async def admin(sql):
        conn = await asyncpg.connect(PG_BASE_URL)
        await conn.execute(sql)
        await conn.close()

    async def uniques(url):
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(PG_UNIQUES)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        migrate(pg_url(name), tmp_path)
        pg_rows = asyncio.run(uniques(pg_url(name)))
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))
    pg_found = {(r["table"], tuple(r["columns"])) for r in pg_rows}

    assert sqlite_found == pg_found
    owned = {(t, c) for t, c in pg_found if t in TENANT_OWNED}
    assert {(t, c) for t, c in owned if c[0] != "tenant_id"} == GLOBAL_UNIQUES
    # exactly T1's tenant-leading uniques
    assert owned - GLOBAL_UNIQUES == {(table, tuple(columns.split(", ")))
                                      for _, table, columns, unique in T1.INDEXES if unique}
    # the inline uniques left, by the names the code and DEPLOY.md may rely on
    assert {(r["table"], r["constraint"]) for r in pg_rows if r["constraint"]} == {
        ("api_key", "api_key_prefix_key"), ("tenant", "tenant_slug_key")}
