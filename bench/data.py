"""Benchmark data: suppression tables of a given size, generated once and cached (not committed).

Addresses are `user{i}@example.com`; every i below the size is suppressed as `unsubscribed`, so a
check for i in [0, 2*size) hits half the time.

Datasets are cached per schema, not per size alone (since issue 18's migrations): a dataset is
made by one source tree's own migrations (`python -m service migrate` run in that tree) and
then loaded, and it is named by `schema_tag(tree)`, a digest of that tree's migration files
(and of the loader's statements). `bench.compare` serves an older tree beside this one, each
on a copy of its own tree's dataset: a database brought to this tree's migrations may have lost
the indexes the older code's statements need (issue 18's T2 drops the non-tenant ones). The
loader fits any tree's schema: its INSERTs name no tenant_id (the column defaults to the
default tenant where it exists), and the indexes it drops and rebuilds around the load are read
from the database itself (every index of `suppression` but the primary key and constraints),
not named here. Generating a dataset of a size removes that engine's cached datasets of the
same size made for other schemas than the run's trees' (see `prepare`), so changed migrations
do not pile up copies of the 10,000,000-row table.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
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


def migrate(database_url: str, root: Path = ROOT) -> None:
    """Bring the database to the migrations of the source tree at `root` (its own code)."""
    subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=root, check=True,
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
# Every index of the table but the primary key (and, on PostgreSQL, those of constraints, which
# DROP INDEX cannot drop) is dropped before the load and rebuilt once after it rather than
# maintained per row; read from the database, so the same loader serves any tree's schema.
SQLITE_INDEXES = ("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                  " AND tbl_name = 'suppression' AND sql IS NOT NULL ORDER BY name")
PG_INDEXES = (
    "SELECT quote_ident(c.relname), pg_get_indexdef(i.indexrelid) FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'suppression'::regclass"
    " AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint k"
    " WHERE k.conindid = i.indexrelid) ORDER BY c.relname"
)


@functools.cache
def schema_tag(root: Path = ROOT) -> str:
    """Which schema the source tree at `root` migrates to, as 12 hex digits: a digest of its
    migration files (names and contents, committed or not) and of the loader's statements. A
    cached dataset is named by it: the same tag, the same database."""
    digest = hashlib.sha256()
    for part in (SQLITE_LOAD, PG_LOAD, TOPIC_SQL):
        digest.update(part.encode() + b"\0")
    for path in sorted((root / "migrations").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _sqlite_cached(n: int, root: Path) -> Path:
    return CACHE / f"sqlite-{n}-{schema_tag(root)}.db"


def _pg_cached(n: int, root: Path) -> str:
    return f"bench_{n}_{schema_tag(root)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _prune_sqlite(n: int, keep: set[str]) -> None:
    """Remove cached SQLite datasets of n suppressions whose schema tag is not in `keep` (and
    those of before the tags, `sqlite-{n}.db`)."""
    pattern = re.compile(rf"sqlite-{n}(-(?P<tag>[0-9a-f]{{12}}))?\.db")
    for path in CACHE.glob(f"sqlite-{n}*.db"):
        found = pattern.fullmatch(path.name)
        if found and found["tag"] not in keep:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)


def sqlite_dataset(n: int, log=print, root: Path = ROOT,
                   keep: frozenset[str] = frozenset()) -> Path:
    """A SQLite file with n suppressions and the 'offers' topic, migrated by the tree at `root`
    (cached; see the module). `keep`: schema tags whose datasets of this size stay when one is
    generated (the tree's own always does)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = _sqlite_cached(n, root)
    if path.exists():
        return path
    started = time.monotonic()
    tmp = path.with_suffix(".tmp.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    try:
        migrate(f"sqlite:///{tmp}", root)
        conn = sqlite3.connect(tmp)
        try:
            # No journal while loading a scratch file (a failed load is thrown away): WAL would
            # write every page twice. The service puts the file back in WAL mode when it opens it.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -1000000")
            conn.execute("PRAGMA temp_store = MEMORY")
            stamp = datetime.now(UTC).isoformat(" ")  # how sqlite3 writes a datetime
            conn.execute(TOPIC_SQL.replace("$1", "?"), (stamp, stamp))
            indexes = conn.execute(SQLITE_INDEXES).fetchall()
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {_quote(name)}")
            for start in range(0, n, BATCH):
                batch = keys(min(BATCH, n - start), start)
                conn.execute(SQLITE_LOAD, (stamp, json.dumps(batch)))
            conn.commit()
            for _, sql in indexes:
                conn.execute(sql)
            conn.execute("ANALYZE")
            conn.commit()
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        _prune_sqlite(n, {*keep, schema_tag(root)})
        shutil.move(tmp, path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
    log(f"  generated SQLite dataset of {n:,} suppressions for schema {schema_tag(root)}"
        f" ({root.name}) in {time.monotonic() - started:.0f}s")
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


async def _prune_pg(admin, n: int, keep: set[str]) -> None:
    """Drop cached PostgreSQL datasets of n suppressions whose schema tag is not in `keep` (and
    that of before the tags, `bench_{n}`)."""
    pattern = re.compile(rf"bench_{n}(_(?P<tag>[0-9a-f]{{12}}))?")
    for (name,) in await admin.fetch("SELECT datname FROM pg_database"):
        found = pattern.fullmatch(name)
        if found and found["tag"] not in keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_dataset(n: int, log, root: Path, keep: frozenset[str]) -> str:
    name = _pg_cached(n, root)
    url = pg_url(name)
    if await _pg_ready(name):
        return url
    started = time.monotonic()
    admin = await asyncpg.connect(PG_BASE)
    try:
        await _prune_pg(admin, n, {*keep, schema_tag(root)})
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    # A failure from here on leaves a database without its topic row: _pg_ready drops it.
    migrate(url, root)
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        indexes = await conn.fetch(PG_INDEXES)
        for index, _ in indexes:
            await conn.execute(f"DROP INDEX {index}")
        if n:  # the empty dataset (for the write path) only gets its topic
            await _pg_load(url, n, now)
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for _, sql in indexes:
            await conn.execute(sql)
        await conn.execute("VACUUM ANALYZE suppression")
        await conn.execute(TOPIC_SQL, now)  # last: marks the dataset complete
    finally:
        await conn.close()
    log(f"  generated PostgreSQL dataset of {n:,} suppressions for schema {schema_tag(root)}"
        f" ({root.name}) in {time.monotonic() - started:.0f}s")
    return url


def pg_dataset(n: int, log=print, root: Path = ROOT, keep: frozenset[str] = frozenset()) -> str:
    return asyncio.run(_pg_dataset(n, log, root, keep))


def prepare(sizes: list[int], log=print, roots: tuple[Path, ...] = (ROOT,)) -> None:
    """Generate the missing datasets of both engines at once, for each source tree in `roots`
    (its own migrations): PostgreSQL's load runs in its server process while this one fills
    the SQLite files. The datasets of these sizes for other schemas are removed."""
    keep = frozenset(schema_tag(root) for root in roots)
    worker = threading.Thread(target=lambda: [pg_dataset(n, log, root, keep)
                                              for root in roots for n in sizes])
    worker.start()
    try:
        for root in roots:
            for n in sizes:
                sqlite_dataset(n, log, root, keep)
    finally:
        worker.join()


def dataset(engine: str, n: int, log=print) -> str:
    """This tree's cached dataset itself, for read-mostly runs (only an API key gets written).
    Already at this tree's migrations: the cache is keyed by them (schema_tag)."""
    return f"sqlite:///{sqlite_dataset(n, log)}" if engine == "sqlite" else pg_dataset(n, log)


def working_copy(engine: str, n: int, log=print) -> str:
    """A database URL with n suppressions the service may write to (copy of the cached one;
    on PostgreSQL the cached one, which reset_pg_writes puts back)."""
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
def scratch_copy(engine: str, n: int, log=print, root: Path = ROOT, label: str = "scratch"):
    """A copy of the n-suppression dataset of the tree at `root` that a run may fill, removed
    afterwards (even when the run fails); `label` tells copies of one size apart. On PostgreSQL
    a template copy: reset_pg_writes could not tell imported suppressions from the dataset's own
    (both have source 'import')."""
    if engine == "sqlite":
        source = sqlite_dataset(n, log, root)
        url = f"sqlite:///{CACHE / f'{label}-{n}.db'}"
        _remove_sqlite(url)
        try:
            shutil.copy(source, sqlite_path(url))
            yield url
        finally:
            _remove_sqlite(url)
        return
    source = _pg_cached(n, root)
    pg_dataset(n, log, root)
    name = f"bench_{label}_{n}"
    try:
        asyncio.run(_pg_copy(source, name))
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
