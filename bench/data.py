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
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from service.contacts.normalize import AddressKeyer, hmac_pads
from service.db.sqlite import sqlite_path

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
# The administrative database of the bench's own server (bench/pg.py); set by `use_server()`.
PG_BASE = ""


def use_server(url: str) -> None:
    global PG_BASE
    PG_BASE = url
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


# Loaded by SQL in bulk: a batch of keys goes in as one JSON array (SQLite) or is computed by
# the server itself (PostgreSQL, PG_LOAD), because a row-by-row load of 10 million rows would
# take most of the benchmark's ten minutes.
SQLITE_LOAD = (
    "INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
    " contact_id, created_at, seq) SELECT 'email', value, '', 'unsubscribed', 'import', NULL,"
    " NULL, ?, 0 FROM json_each(?)"
)
# HMAC-SHA256 (RFC 2104) spelt out with the server's own sha256(): $1 and $2 are the key's
# inner and outer pads, so no extension is needed; the keys equal AddressKeyer's.
PG_LOAD = (
    "INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
    " contact_id, created_at, seq) SELECT 'email', encode(sha256($2 || sha256($1 ||"
    " convert_to('email:user' || i || '@example.com', 'UTF8'))), 'hex'), '', 'unsubscribed',"
    " 'import', NULL, NULL, $3, 0 FROM generate_series($4::bigint, $5::bigint - 1) i"
)
BATCH = 200_000
PG_LOADERS = 2  # connections loading at once: one server process each
# Rebuilt once after the load rather than maintained per row.
SUPPRESSION_INDEXES = {
    "suppression_channel_key_topic_reason": "CREATE UNIQUE INDEX suppression_channel_key_topic"
    "_reason ON suppression (channel, address_key, topic, reason)",
    "suppression_seq": "CREATE INDEX suppression_seq ON suppression (seq)",
    "suppression_reason": "CREATE INDEX suppression_reason ON suppression (reason, channel)",
}


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
    # No journal while loading a scratch file (a failed load is thrown away): WAL would
    # write every page twice. The service puts the file back in WAL mode when it opens it.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    conn.execute("PRAGMA temp_store = MEMORY")
    stamp = datetime.now(UTC).isoformat(" ")  # how sqlite3 writes a datetime
    conn.execute(TOPIC_SQL.replace("$1", "?"), (stamp, stamp))
    for name in SUPPRESSION_INDEXES:
        conn.execute(f"DROP INDEX {name}")
    for start in range(0, n, BATCH):
        batch = keys(min(BATCH, n - start), start)
        conn.execute(SQLITE_LOAD, (stamp, json.dumps(batch)))
    conn.commit()
    for sql in SUPPRESSION_INDEXES.values():
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.commit()
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    shutil.move(tmp, path)
    log(f"  generated SQLite dataset of {n:,} suppressions in {time.monotonic() - started:.0f}s")
    return path


async def _pg_ready(name: str) -> bool:
    """Whether the cached database is complete (the topic row is written last); drops a
    half-made one."""
    admin = await asyncpg.connect(PG_BASE)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        conn = await asyncpg.connect(pg_url(name))
        try:
            ready = await conn.fetchval("SELECT to_regclass('topic') IS NOT NULL") and (
                await conn.fetchval("SELECT count(*) FROM topic"))
        finally:
            await conn.close()
        if not ready:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        return bool(ready)
    finally:
        await admin.close()


async def _pg_load(url: str, n: int, now: datetime) -> None:
    """Fill the table in PG_LOADERS ranges at once."""
    inner, outer = hmac_pads(HASH_KEY)
    step = -(-n // PG_LOADERS)

    async def load(start: int, stop: int) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(PG_LOAD, inner, outer, now, start, stop)
        finally:
            await conn.close()

    await asyncio.gather(*(load(start, min(n, start + step)) for start in range(0, n, step)))


async def _pg_dataset(n: int, log) -> str:
    name = f"bench_{n}"
    url = pg_url(name)
    if await _pg_ready(name):
        return url
    started = time.monotonic()
    admin = await asyncpg.connect(PG_BASE)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    migrate(url)
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        for index in SUPPRESSION_INDEXES:
            await conn.execute(f"DROP INDEX {index}")
        if n:  # the empty dataset (for the write path) only gets its topic
            await _pg_load(url, n, now)
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for sql in SUPPRESSION_INDEXES.values():
            await conn.execute(sql)
        await conn.execute("VACUUM ANALYZE suppression")
        await conn.execute(TOPIC_SQL, now)  # last: marks the dataset complete
    finally:
        await conn.close()
    log(f"  generated PostgreSQL dataset of {n:,} suppressions"
        f" in {time.monotonic() - started:.0f}s")
    return url


def pg_dataset(n: int, log=print) -> str:
    return asyncio.run(_pg_dataset(n, log))


def prepare(sizes: list[int], log=print) -> None:
    """Generate the missing datasets of both engines at once: PostgreSQL's load runs in its
    server process while this one fills the SQLite files."""
    worker = threading.Thread(target=lambda: [pg_dataset(n, log) for n in sizes])
    worker.start()
    try:
        for n in sizes:
            sqlite_dataset(n, log)
    finally:
        worker.join()


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
                           " outbox, api_key, send_log CASCADE")
    finally:
        await conn.close()


def _remove_sqlite(url: str) -> None:
    path = sqlite_path(url)
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


async def _pg_copy(source: str, target: str) -> None:
    """CREATE DATABASE target as a file copy of source (seconds for 1,000,000 suppressions)."""
    admin = await asyncpg.connect(PG_BASE)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')  # a killed run's
        for attempt in range(10):
            try:
                await admin.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'
                                    " STRATEGY FILE_COPY")
                return
            except asyncpg.ObjectInUseError:  # autovacuum, or a connection just closing
                if attempt == 9:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def _pg_drop(name: str) -> None:
    admin = await asyncpg.connect(PG_BASE)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def scratch_copy(engine: str, n: int, log=print):
    """A copy of the n-suppression dataset that imports may fill, removed afterwards. On
    PostgreSQL a template copy: reset_pg_writes could not tell imported suppressions from the
    dataset's own (both have source 'import')."""
    if engine == "sqlite":
        url = working_copy(engine, n, log)
        try:
            yield url
        finally:
            _remove_sqlite(url)
        return
    dataset(engine, n, log)
    name = f"bench_scratch_{n}"
    asyncio.run(_pg_copy(f"bench_{n}", name))
    try:
        yield pg_url(name)
    finally:
        asyncio.run(_pg_drop(name))


def count(url: str, sql: str) -> int:
    """One count from the database (to check what a run wrote, not to time it)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()

    async def fetch() -> int:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def csv_file(name: str, header: str, row: Callable[[int], str], n: int) -> Path:
    """A CSV of `header` and row(i) for i < n under the cache (written once)."""
    path = CACHE / "csv" / f"{name}-{n}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(header + "\n")
            for start in range(0, n, BATCH):
                fh.write("".join(row(i) + "\n" for i in range(start, min(n, start + BATCH))))
        tmp.rename(path)
    return path
