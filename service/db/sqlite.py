"""SQLite connections as the service opens them: `$n` placeholders rewritten to `?n`, the
pragmas every connection gets (WAL, mmap, foreign keys), and the writer's own busy handler.

Used by service/db/engine.py (the Database) and service/db/tx.py (statements in a write
transaction); SQL is written once in PostgreSQL's `$1` style and converted here.
"""

from __future__ import annotations

import re
import sqlite3
import time
from urllib.parse import unquote

import piccolo.engine.sqlite  # noqa: F401  (registers the type adapters and converters we share)

_PLACEHOLDER = re.compile(r"\$(\d+)")
_sqlite_sql_cache: dict[str, str] = {}
MMAP_BYTES = 2**31  # SQLite caps it at its build's maximum (2 GiB by default)
BUSY_POLL_SECONDS = 0.001


def to_sqlite(sql: str) -> str:
    cached = _sqlite_sql_cache.get(sql)
    if cached is None:
        cached = _sqlite_sql_cache[sql] = _PLACEHOLDER.sub(r"?\1", sql)
    return cached


def sqlite_path(url: str) -> str:
    """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` to a filesystem path."""
    rest = url.split("://", 1)[1]
    return unquote(rest[1:] if rest.startswith("/") else rest)


def begin_immediate(conn: sqlite3.Connection, busy_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write lock by trying every millisecond.

    SQLite's own busy handler sleeps ever longer between tries (up to 100 ms), so a waiter
    starved behind a process that releases the lock only for a few milliseconds between its
    short transactions (a running import): one-clicks waited 14-53 s. The writer connection
    has no busy timeout of its own; this loop is its busy handler.
    """
    deadline = time.monotonic() + busy_ms / 1000
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(BUSY_POLL_SECONDS)


def connect_sqlite(path: str, busy_ms: int, synchronous: str,
                    plain: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        detect_types=0 if plain else sqlite3.PARSE_DECLTYPES,
        timeout=busy_ms / 1000,
    )
    if not plain:
        conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Reads straight from the OS page cache instead of a read() per page that misses
    # SQLite's own small cache: on a large table a look-up touches several such pages.
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    return conn


def commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
