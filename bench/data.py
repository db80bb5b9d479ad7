"""Benchmark data: suppression tables of a given size, generated once and cached (not committed).

Addresses are `user{i}@example.com`; every i below the size is suppressed as `unsubscribed`, so a
check for i in [0, 2*size) hits half the time.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from service.contacts.normalize import AddressKeyer
from service.db.engine import sqlite_path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "results" / "data"

def _bench_secrets() -> dict[str, str]:
    """Generated once and kept beside the cached data, whose address keys depend on them."""
    path = CACHE / "secrets.json"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"hash_key": secrets.token_urlsafe(32),
                                    "secret_keys": secrets.token_urlsafe(32)}))
    return json.loads(path.read_text())


HASH_KEY = _bench_secrets()["hash_key"]
SECRET_KEYS = _bench_secrets()["secret_keys"]
PG_BASE = os.environ.get("DATABASE_URL_POSTGRES", "postgresql://127.0.0.1:5432/test")
TOPIC_SQL = (
    "INSERT INTO topic (key, name, description, channels, legal_basis, transactional,"
    " created_at, updated_at) VALUES ('offers', 'Offers', '', '[\"email\"]', 'soft_opt_in',"
    " false, $1, $1)"
)


def address(i: int) -> str:
    return f"user{i}@example.com"


def keys(n: int, start: int = 0) -> list[str]:
    keyer = AddressKeyer(HASH_KEY)
    return [keyer.key("email", address(i)) for i in range(start, start + n)]


def base_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PICCOLO_CONF",)}
    env.update({"DATABASE_URL": database_url, "HASH_KEY": HASH_KEY, "SECRET_KEYS": SECRET_KEYS,
                "ENVIRONMENT": "development", "DATA_DIR": str(CACHE), "LOG_LEVEL": "WARNING"})
    return env


def migrate(database_url: str) -> None:
    subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=ROOT, check=True,
                   env=base_env(database_url), capture_output=True)


def pg_url(name: str) -> str:
    return PG_BASE.rpartition("/")[0] + "/" + name


def _rows(n: int, now: datetime):
    batch = 100_000
    for start in range(0, n, batch):
        chunk = keys(min(batch, n - start), start)
        yield [("email", k, "", "unsubscribed", "import", None, None, now, 0) for k in chunk]


INSERT = ("INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
          " contact_id, created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def sqlite_dataset(n: int, log=print) -> Path:
    """A migrated SQLite file with n suppressions and the 'offers' topic (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"sqlite-{n}.db"
    if path.exists():
        return path
    started = time.monotonic()
    tmp = CACHE / f"sqlite-{n}.tmp.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    migrate(f"sqlite:///{tmp}")
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    now = datetime.now(UTC)
    conn.execute(TOPIC_SQL.replace("$1", "?"), (now, now))
    # Building the unique index once after loading is much faster than maintaining it per row.
    conn.execute("DROP INDEX suppression_channel_key_topic_reason")
    for rows in _rows(n, now):
        conn.executemany(INSERT, rows)
        conn.commit()
    conn.execute("CREATE UNIQUE INDEX suppression_channel_key_topic_reason"
                 " ON suppression (channel, address_key, topic, reason)")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.move(tmp, path)
    log(f"  generated SQLite dataset of {n:,} suppressions in {time.monotonic() - started:.0f}s")
    return path


async def _pg_dataset(n: int, log) -> str:
    name = f"bench_{n}"
    url = pg_url(name)
    admin = await asyncpg.connect(PG_BASE)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            conn = await asyncpg.connect(url)
            try:
                ready = await conn.fetchval(
                    "SELECT count(*) FROM topic") if await conn.fetchval(
                    "SELECT to_regclass('topic') IS NOT NULL") else 0
            finally:
                await conn.close()
            if ready:
                return url
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        started = time.monotonic()
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    migrate(url)
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        await conn.execute("DROP INDEX suppression_channel_key_topic_reason")
        for rows in _rows(n, now):
            await conn.copy_records_to_table(
                "suppression", records=rows,
                columns=["channel", "address_key", "topic", "reason", "source", "list_name",
                         "contact_id", "created_at", "seq"])
        await conn.execute("CREATE UNIQUE INDEX suppression_channel_key_topic_reason"
                           " ON suppression (channel, address_key, topic, reason)")
        await conn.execute("VACUUM ANALYZE suppression")
        await conn.execute(TOPIC_SQL, now)  # last: marks the dataset complete
    finally:
        await conn.close()
    log(f"  generated PostgreSQL dataset of {n:,} suppressions"
        f" in {time.monotonic() - started:.0f}s")
    return url


def pg_dataset(n: int, log=print) -> str:
    return asyncio.run(_pg_dataset(n, log))


def dataset(engine: str, n: int, log=print) -> str:
    """The cached dataset itself, for read-mostly runs (only an API key gets written),
    brought up to the current migrations."""
    url = f"sqlite:///{sqlite_dataset(n, log)}" if engine == "sqlite" else pg_dataset(n, log)
    migrate(url)
    return url


def working_copy(engine: str, n: int, log=print) -> str:
    """A database URL with n suppressions the service may write to (copy of the cached one)."""
    if engine == "sqlite":
        source = Path(sqlite_path(dataset(engine, n, log)))
        target = CACHE / f"work-{n}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copy(source, target)
        return f"sqlite:///{target}"
    return dataset(engine, n, log)


async def reset_pg_writes(url: str) -> None:
    """Undo what a run wrote into a cached PostgreSQL dataset (contacts, links, unsubscribes)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM suppression WHERE source <> 'import'")
        await conn.execute("TRUNCATE contact, address, preference, consent_event, change_feed,"
                           " outbox, api_key CASCADE")
    finally:
        await conn.close()
