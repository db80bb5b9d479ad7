"""Fixtures: every database test runs on SQLite and on PostgreSQL.

The database is migrated once per engine per test session (by the real `python -m service
migrate`), then each test gets a clean copy: a copied SQLite file, or a PostgreSQL database of
this session whose tables are truncated. PostgreSQL comes from DATABASE_URL_POSTGRES (default
postgresql://127.0.0.1:5432/test); each session works in a database of its own, so concurrent
runs never share rows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from playwright.async_api import async_playwright

from service.apikeys.logic import create_api_key
from service.app import create_app
from service.db.engine import Database
from service.db.tables import TABLES
from service.db.tenant_db import TenantDb
from service.settings import Settings
from service.tenants.logic import create_tenant
from service.tenants.model import DEFAULT_TENANT_ID, Tenant
from service.tenants.registry import TenantRegistry
from service.tenants.secrets import check_distinct
from tests.preferences.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
PG_BASE_URL = os.environ.get("DATABASE_URL_POSTGRES", "postgresql://127.0.0.1:5432/test")
ENGINES = ["sqlite", "postgres"]


def migrate(url: str, data_dir: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(data_dir),
           "ENVIRONMENT": "test", "SECRET_KEYS": "test-secret-key-0123456789",
           "HASH_KEY": "test-hash-key-0123456789"}
    env.pop("PICCOLO_CONF", None)
    result = subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment of `python -m service ...` run as a subprocess on the test's database."""
    return {**os.environ, "DATABASE_URL": settings.database_url,
            "DATA_DIR": str(settings.data_dir), "ENVIRONMENT": "test",
            "SECRET_KEYS": ",".join(settings.secret_keys), "HASH_KEY": settings.hash_key}


def run_async(coro):
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pg_url(dbname: str) -> str:
    base, _, _ = PG_BASE_URL.rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    migrate(f"sqlite:///{path}", folder)
    return path


@contextmanager
def scratch_pg_database(prefix: str):
    """A database of our own on the shared PostgreSQL server, dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_BASE_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_async(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url(name)
    finally:
        run_async(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database():
    """A database of this test session, migrated; dropped at the end."""
    with scratch_pg_database("test") as url:
        migrate(url, ROOT / "data")
        yield url


async def truncate_pg(url: str) -> None:
    tables = ", ".join([f'"{t._meta.tablename}"' for t in TABLES if t._meta.tablename != "tenant"]
                       + ["shared_bounce"])  # global, but written by tests (D10)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # tenants are global rows: keep `default`, the one the migration made
        await conn.execute("DELETE FROM tenant WHERE id <> 1")
        await conn.execute("SELECT setval(pg_get_serial_sequence('tenant', 'id'), 1)")
    finally:
        await conn.close()


@pytest.fixture(params=ENGINES)
async def database_url(request, tmp_path) -> str:
    """A clean, migrated database on each engine."""
    if request.param == "sqlite":
        path = tmp_path / "service.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    await truncate_pg(url)
    return url


def make_settings(database_url: str, tmp_path: Path, **overrides) -> Settings:
    values = dict(
        environment="test",
        database_url=database_url,
        data_dir=tmp_path,
        secret_keys=["test-secret-key-0123456789"],
        hash_key="test-hash-key-0123456789",
        public_base_url="https://prefs.example.com",
        unsubscribe_mailto="unsubscribe@prefs.example.com",
        rate_limit_pages_per_minute=0,
        run_workers_in_web=False,
        sqlite_synchronous="NORMAL",
    )
    values.update(overrides)
    settings = Settings(**values).finalize()
    check_distinct(settings)  # as every process's start (build_runtime) does
    return settings


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def app(settings):
    return create_app(settings)


@pytest.fixture
async def client(app):
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        yield client


@pytest.fixture
def rt(app, client):
    """The running app's runtime, for its keyer, signer and settings. Its `db` lives on the
    client's event loop (AsyncTestClient runs the app in a portal thread): tests use `db`."""
    return app.state.rt


@pytest.fixture
async def db(raw_db) -> TenantDb:
    """The default tenant's view of `raw_db`: scoped statements get its id, as in the app."""
    return TenantDb(raw_db, DEFAULT_TENANT_ID)


@pytest.fixture
async def raw_db(settings, client) -> Database:
    """A connection of the test's own to the app's database, as an outside observer."""
    database = Database(settings.database_url, synchronous="NORMAL")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def admin_headers(db) -> dict[str, str]:
    _, key = await create_api_key(db, "test-admin", ["admin"])
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def tenant_b(db) -> Tenant:
    """A second tenant, `b` ("Brand B"), as the operator makes one; the app finds it on its
    first request (its registry reads the tenant table again on a miss)."""
    registry = TenantRegistry()
    made = await create_tenant(db, registry, "b", "Brand B")
    return registry.get(made["id"])


@pytest.fixture
async def headers_b(raw_db, tenant_b) -> dict[str, str]:
    """An admin key of tenant b."""
    _, key = await create_api_key(TenantDb(raw_db, tenant_b.id), "b-admin", ["admin"])
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def operator_headers(db) -> dict[str, str]:
    """An operator key (of the default tenant); add X-Tenant to act in a tenant."""
    _, key = await create_api_key(db, "test-operator", ["operator"])
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def make_key(db):
    async def make(*scopes: str) -> dict[str, str]:
        _, key = await create_api_key(db, "test", list(scopes))
        return {"Authorization": f"Bearer {key}"}

    return make


async def feed_page(client, headers, **params) -> dict:
    """One page of `GET /v1/suppressions` (params left out when None)."""
    response = await client.get("/v1/suppressions", headers=headers,
                                params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 200, response.text
    return response.json()


async def follow_feed(client, headers, cursor=None, **params) -> tuple[list, str]:
    """Every entry of the listing from `cursor` until caught up, and the cursor to go on (a
    mirror of the suppression list, as a mailer keeps one)."""
    entries = []
    while True:
        body = await feed_page(client, headers, cursor=cursor, **params)
        entries += body["entries"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return entries, cursor


@pytest.fixture
async def browser():
    """A headless Debian Chromium for the page tests (tests/preferences/browser.py)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                    args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def rows_per_tenant(raw_db, tables) -> dict[str, dict[int, int]]:
    """{table: {tenant id: rows}}: what a request wrote, and into which tenant."""
    found = {}
    for table in tables:
        rows = await raw_db.fetch(f"SELECT tenant_id, COUNT(*) AS n FROM {table}"  # noqa: S608
                                  " GROUP BY tenant_id")
        found[table] = {r["tenant_id"]: r["n"] for r in rows}
    return found
