"""Recorded sends (issue 17): `send_log` keeps its rows but loses its `id` and its two wide
indexes for one narrow index, so that `POST /v1/sends` writes far less per address once the
table holds ~1,000,000 sends.

Every send is keyed by a random 64-hex address key, so a request of 100,000 addresses puts an
entry in nearly every leaf page of an index that leads with the key: SQLite writes each such
page out whole (to the WAL, then back to the file), so a request cost what the index weighs,
not what it adds (~1.1 s of writing per 100,000 addresses at 1,000,000 sends).
`send_log_address` (channel, address_key, topic, sent_at) took ~120 bytes an entry;
`send_log_key_prefix` (the key's first 16 hex digits) takes ~25, and the same request writes
in ~0.4 s (bench/NOTES.md). The readers (service/consent/queries.py, the erasure) find an
address's few sends by the prefix and compare channel and whole key in the row, so they answer
exactly what they did; another address with the same 64-bit prefix only means a row more read.
- `send_log_sent_at` goes: another B-tree written per send, for retention alone, which now
  walks the table in rowid order on SQLite and scans it on PostgreSQL
  (service/privacy/retention.py).
- `id` goes: nothing reads it, and on PostgreSQL it cost every send a sequence value and a
  primary-key entry (~15% of the INSERT). On SQLite the rowid stays (`id` was only its name),
  and retention walks it.

Both engines end with the same columns. PostgreSQL drops the column in place; SQLite cannot
drop a primary-key column, so the table is copied in rowid order (the rows and their order
kept) and the old one dropped, in the migration's transaction. Every step can run again.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-08T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "send_log: no id, one narrow index on the key prefix"
COLUMNS = "channel, address_key, topic, sent_at, campaign"
INDEX = "CREATE INDEX IF NOT EXISTS send_log_key_prefix ON send_log (substr(address_key, 1, 16))"


def table(name: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {name} (channel VARCHAR(8) NOT NULL,"
            " address_key VARCHAR(64) NOT NULL, topic VARCHAR(64) NOT NULL,"
            " sent_at TIMESTAMPTZ NOT NULL, campaign VARCHAR(200) DEFAULT NULL)")


def statements(engine: str, present: set[str]) -> list[str]:
    """The conversion; `present`: send_log's columns now (read on SQLite only)."""
    if engine == "postgres":
        return [INDEX, "DROP INDEX IF EXISTS send_log_address",
                "DROP INDEX IF EXISTS send_log_sent_at",
                "ALTER TABLE send_log DROP COLUMN IF EXISTS id"]  # its index and sequence too
    if "id" not in present:
        return [INDEX]
    return ["DROP TABLE IF EXISTS send_log_converted", table("send_log_converted"),
            f"INSERT INTO send_log_converted ({COLUMNS}) SELECT {COLUMNS} FROM send_log"
            " ORDER BY id",
            "DROP TABLE send_log",  # and its indexes
            "ALTER TABLE send_log_converted RENAME TO send_log",
            INDEX]


class _Raw(Table, tablename="send_log"):
    """Only a handle for running raw statements on the migration's engine."""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION)

    async def convert():
        engine = "sqlite" if _Raw._meta.db.engine_type == "sqlite" else "postgres"
        present: set[str] = set()
        if engine == "sqlite":
            present = {r["name"] for r in await _Raw.raw("PRAGMA table_info(send_log)")}
        for statement in statements(engine, present):
            await _Raw.raw(statement)

    manager.add_raw(convert)
    return manager
