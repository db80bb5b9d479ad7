"""Tenants (issue 18), migration T2, the contract half (docs/plans/tenants.md §5): the old
indexes and uniques that T1's tenant-leading ones replace are dropped, so that two tenants can
hold the same external_ref, topic key, wording key, outbox dedupe key, list name and address.

Run it only once no process of the previous release is left: that release's ON CONFLICT
targets (`(channel, address_key)`, `(key)`, ...) have no unique to match any more, and its
look-ups without tenant_id have no index. A PostgreSQL rolling deploy therefore runs
`python -m service migrate --upto 2026-12-09T10:00:00:000000` (T1), rolls out the new code,
then `python -m service migrate` (this one). A SQLite deploy stops, migrates (both), starts.

- Dropped on both engines: the indexes of DROPPED (PostgreSQL also consent_event_chain).
  A table with an ON DELETE CASCADE foreign key to contact keeps an index that leads with
  contact_id, which the cascade of an erasure probes: address keeps address_contact_id,
  opt_out_code keeps opt_out_code_contact_id, and preference gets `preference_contact_id
  (contact_id)` in place of its old unique (contact_id, channel, topic). suppression.contact_id
  and consent_event.contact_id are plain columns (no foreign key), found through their tenant
  indexes.
- The inline UNIQUEs of contact.external_ref, topic.key, wording_version.key,
  outbox.dedupe_key and external_list.name go (api_key.prefix stays global on purpose: a key
  is looked up by its prefix before its tenant is known). PostgreSQL drops the constraints
  (contact_external_ref_key, ...). SQLite cannot drop one: each of these tables is rebuilt
  with the 12 steps of https://www.sqlite.org/lang_altertable.html#otheralter on one
  connection of this migration's own with foreign keys off (Piccolo's SQLite engine opens a
  connection per statement, where a PRAGMA would not hold; with foreign keys on, dropping
  contact would delete every address, preference and opt-out code through ON DELETE
  CASCADE). Its CREATE TABLE text is the one in sqlite_master with only that column's UNIQUE
  taken out, so the columns, types, defaults, primary key and foreign keys stay as they were,
  and its indexes are created again from their own text. Everything on SQLite is one
  transaction, which commits only if `PRAGMA foreign_key_check` then finds nothing.
- PostgreSQL builds and drops its indexes CONCURRENTLY (the new code keeps writing while this
  runs), so the migration is not one transaction (`wrap_in_transaction=False`); dropping a
  constraint takes the table's lock for a moment. Then ANALYZE.
- Every step can run again: IF [NOT] EXISTS, and a table whose UNIQUE is gone is not rebuilt.

Measured on the 2-core development machine at T1's size (1,000,000 suppressions and sends;
200,000 contacts, addresses, preferences, ledger events and feed entries), never idle (other
test runs, load average 5-7): SQLite 4.0-6.0 s, of which about 0.75 s rebuilds contact (copy,
drop, its two indexes) and 1.5-2.3 s is the COMMIT; PostgreSQL 2.8-4.6 s, of which 1.7-2.8 s is
the ANALYZE. At load average 8-12 (where T1 took 43 s and 48 s, against 12 s and 17 s quiet):
up to 11.6 s and 7.9 s. `python -m service migrate` adds its start-up, 5-7 s there.
"""

from __future__ import annotations

import re
import sqlite3

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-09T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tenants T2 (contract): the old non-tenant indexes and inline uniques dropped"

# The indexes T1's tenant-leading ones replace (the same names on both engines).
DROPPED = (
    "address_channel_key", "address_contact_channel",
    "preference_contact_channel_topic",
    "suppression_channel_key_topic_reason", "suppression_seq", "suppression_reason",
    "suppression_list_name", "suppression_contact_id",
    "change_feed_channel",
    "consent_event_contact_seq", "consent_event_occurred", "consent_event_topic",
    "soft_bounce_key", "sms_message_provider_id", "external_list_key_list_key",
    "send_log_key_prefix",
)
PG_DROPPED = ("consent_event_chain",)
# What an erasure's ON DELETE CASCADE from contact probes preference by, in place of the old
# unique (contact_id, channel, topic) (address and opt_out_code keep theirs).
CASCADE_INDEX = ("preference_contact_id", "preference", "contact_id")
# (table, column, PostgreSQL's name of its inline UNIQUE constraint)
INLINE_UNIQUES = (
    ("contact", "external_ref", "contact_external_ref_key"),
    ("topic", "key", "topic_key_key"),
    ("wording_version", "key", "wording_version_key_key"),
    ("outbox", "dedupe_key", "outbox_dedupe_key_key"),
    ("external_list", "name", "external_list_name_key"),
)
# as in T1 (kept here, not imported: a table added later is not this migration's)
TENANT_OWNED = (
    "contact", "address", "topic", "wording_version", "consent_event", "ledger_checkpoint",
    "preference", "suppression", "change_feed", "api_key", "outbox", "webhook_subscription",
    "soft_bounce", "sms_message", "opt_out_code", "external_list", "external_list_key",
    "send_log",
)
BUSY_SECONDS = 60
REBUILT = "{}_t2_rebuilt"  # the new table's name while it is built


class MigrationError(RuntimeError):
    pass


def dropped(engine: str) -> tuple[str, ...]:
    return DROPPED + (PG_DROPPED if engine == "postgres" else ())


# --- SQLite: the rebuilds -----------------------------------------------------------------

_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|\w+|\S""")
_UNIQUE = re.compile(r"\bUNIQUE(\s+ON\s+CONFLICT\s+\w+)?\b", re.IGNORECASE)


def _unquote(piece: str) -> str:
    if piece[:1] in "\"`[" and len(piece) > 1:
        return piece[1:-1].replace('""', '"')
    return piece


def _split_definitions(body: str) -> list[str]:
    """The column and constraint definitions of a CREATE TABLE's (...), split at the commas
    outside parentheses and quotes."""
    parts, depth, start = [], 0, 0
    for match in _TOKEN.finditer(body):
        piece = match.group()
        if piece == "(":
            depth += 1
        elif piece == ")":
            depth -= 1
        elif piece == "," and depth == 0:
            parts.append(body[start:match.start()])
            start = match.end()
    parts.append(body[start:])
    return parts


def _drop_unique_keyword(definition: str) -> str:
    """A column definition without its UNIQUE (quoted text and parentheses left alone)."""
    out, done, depth, last = [], 0, 0, 0
    for match in _TOKEN.finditer(definition):
        piece = match.group()
        depth += piece == "("
        depth -= piece == ")"
        if depth == 0 and piece.upper() == "UNIQUE":
            found = _UNIQUE.match(definition, match.start())
            out.append(definition[last:match.start()].rstrip())
            last = found.end()
            done += 1
    out.append(definition[last:])
    if done != 1:
        raise MigrationError(f"expected one UNIQUE in {definition!r}, found {done}")
    return "".join(out)


def without_unique(create_sql: str, column: str, new_name: str) -> str:
    """`CREATE TABLE new_name (...)` as `create_sql`, `column` without its inline UNIQUE."""
    opening, closing = create_sql.index("("), create_sql.rindex(")")
    definitions = _split_definitions(create_sql[opening + 1:closing])
    hits = [i for i, d in enumerate(definitions)
            if (first := _TOKEN.search(d)) and _unquote(first.group()).lower() == column.lower()]
    if len(hits) != 1:
        raise MigrationError(f"column {column} not found once in {create_sql!r}")
    definitions[hits[0]] = _drop_unique_keyword(definitions[hits[0]])
    return (f'CREATE TABLE "{new_name}" ({",".join(definitions)})'
            f"{create_sql[closing + 1:]}")


def has_inline_unique(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether `table` still has a UNIQUE constraint on `column` alone."""
    for row in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
        name, unique, origin = row[1], row[2], row[3]
        if unique and origin == "u":
            columns = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
            if columns == [column]:
                return True
    return False


def rebuild(conn: sqlite3.Connection, table: str, column: str) -> None:
    """Steps 4-9 of SQLite's procedure: the table again without `column`'s UNIQUE, its rows,
    indexes and triggers; in the caller's transaction, with foreign keys off."""
    (create_sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    others = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL ORDER BY type, name", (table,))]
    if conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'view'").fetchone()[0]:
        raise MigrationError("a view exists; it would have to be recreated around the rebuild")
    new = REBUILT.format(table)
    columns = ", ".join(f'"{r[1]}"' for r in conn.execute(f'PRAGMA table_info("{table}")'))
    conn.execute(f'DROP TABLE IF EXISTS "{new}"')
    conn.execute(without_unique(create_sql, column, new))
    conn.execute(f'INSERT INTO "{new}" ({columns}) SELECT {columns} FROM "{table}"')  # noqa: S608
    conn.execute(f'DROP TABLE "{table}"')
    conn.execute(f'ALTER TABLE "{new}" RENAME TO "{table}"')
    for sql in others:
        conn.execute(sql)
    if has_inline_unique(conn, table, column):
        raise MigrationError(f"{table}.{column} is still unique after its rebuild")


def contract_sqlite(path: str) -> None:
    """The whole of T2 on SQLite: one connection, foreign keys off, one transaction."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_SECONDS)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")  # outside a transaction, or it is ignored
        if conn.execute("PRAGMA foreign_keys").fetchone()[0]:
            raise MigrationError("foreign keys could not be turned off for the rebuilds")
        conn.execute("BEGIN IMMEDIATE")
        try:
            name, table, column = CASCADE_INDEX
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")
            for index in dropped("sqlite"):
                conn.execute(f"DROP INDEX IF EXISTS {index}")
            for table, column, _ in INLINE_UNIQUES:
                if has_inline_unique(conn, table, column):
                    rebuild(conn, table, column)
            broken = conn.execute("PRAGMA foreign_key_check").fetchmany(5)
            if broken:
                raise MigrationError(
                    "PRAGMA foreign_key_check found rows without their parent (table, rowid,"
                    f" parent, fk): {broken}; nothing was changed")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        conn.execute("PRAGMA foreign_keys = ON")
    finally:
        conn.close()


# --- PostgreSQL ---------------------------------------------------------------------------

# the single-column UNIQUE constraints on one column, whatever their name
PG_UNIQUES_OF = (
    "SELECT c.conname AS name FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
    " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = c.conkey[1]"
    " WHERE c.contype = 'u' AND cardinality(c.conkey) = 1 AND pg_table_is_visible(t.oid)"
    " AND t.relname = {} AND a.attname = {}"
)
PG_INVALID = (
    "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE NOT i.indisvalid AND c.relname = {} AND pg_table_is_visible(c.oid)"
)


class _Raw(Table, tablename="contact"):
    """Only a handle for running raw statements on the migration's engine."""


async def contract_postgres() -> None:
    name, table, column = CASCADE_INDEX
    if await _Raw.raw(PG_INVALID, name):  # left by a failed run: built again
        await _Raw.raw(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    await _Raw.raw(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({column})")
    for index in dropped("postgres"):
        await _Raw.raw(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
    for table, column, constraint in INLINE_UNIQUES:
        names = {r["name"] for r in await _Raw.raw(PG_UNIQUES_OF, table, column)} | {constraint}
        for name in sorted(names):
            await _Raw.raw(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}"')
    await _Raw.raw(f"ANALYZE {', '.join(TENANT_OWNED)}")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION,
                               wrap_in_transaction=False)

    async def contract():
        engine = _Raw._meta.db
        if engine.engine_type == "sqlite":
            contract_sqlite(engine.path)
        else:
            await contract_postgres()

    manager.add_raw(contract)
    return manager
