"""Query-plan checks for keyed joins: the big table must be probed through an index, never
scanned. Used by tests/db/test_query_plans.py and by capability tests of their own joins.

`scanned(db, sql, *args)` returns the tables the plan reads whole. SQLite: the `SCAN t` lines
of `EXPLAIN QUERY PLAN` (a `SCAN` of `json_each` is the key list itself, the outer loop, and
is fine), and the `SEARCH t` lines that search on a channel or reason alone (the plan of issue
13: `SEARCH s USING COVERING INDEX … (channel=?)`, then every key compared with every row).
PostgreSQL: the `Seq Scan on t` nodes of `EXPLAIN`. Callers fill the tables first (`fill`),
so that the planner weighs tables of real size, as in production.
"""

from __future__ import annotations

import hashlib
import re

from service.db.engine import Database
from service.db.scoped import Scoped
from service.db.sqlite import to_sqlite

_SQLITE_SCAN = re.compile(r"\bSCAN (\w+)")
_SQLITE_SEARCH = re.compile(r"\bSEARCH (\w+) USING .*?\((.*)\)")
# A search on these columns alone still reads a whole channel (or reason) of the table.
# tenant_id too (issue 18): a search on the tenant alone reads the whole tenant.
LOW_SELECTIVITY = {"channel", "topic", "reason", "status", "kind", "tenant_id"}
_PG_SCAN = re.compile(r"Seq Scan on (\w+)")
KEY_LISTS = {"json_each", "k", "j", "t", "wanted", "new_keys"}
# Derived tables of one address's own rows, read whole by design: `recent_sends`, the sends
# to one paced address (rule 7's cap, service/consent/queries.py), found by its index first.
ONE_ADDRESS = {"recent_sends"}


async def plan(db: Database, sql: str, *args, tx=None) -> str:
    """The plan's text; in `tx` when given (a statement over a temporary table). A `Scoped`
    statement is explained as its tenant's view runs it: the view's tenant id in $1."""
    if sql.__class__ is Scoped:
        sql, args = sql.plain, (getattr(tx, "tenant_id", None) or db.tenant_id, *args)
    if tx is not None:
        rows = await tx.fetch(("EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN ") + sql,
                              *args)
        return "\n".join(str(row[3] if db.is_sqlite else row[0]) for row in rows)
    if db.is_sqlite:
        rows = db._reader.execute("EXPLAIN QUERY PLAN " + to_sqlite(sql), args).fetchall()
        return "\n".join(row[3] for row in rows)
    rows = await db.pool.fetch("EXPLAIN " + sql, *args)
    return "\n".join(row[0] for row in rows)


_PG_SCAN_NODE = re.compile(r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)(?: Backward)?"
                           r"(?: using (\w+))? on (\w+)(?: (\w+))?")


def pg_scan_nodes(text: str) -> list[tuple[str, str | None, str, str, list[str]]]:
    """Each scan of a table in a PostgreSQL plan's text: (kind, index or None, table, alias,
    the lines of its node: conditions and filters). A partition's `_N` suffix stays on."""
    found, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        match = _PG_SCAN_NODE.search(line)
        if not match:
            continue
        depth = len(line) - len(line.lstrip())
        details = []
        for after in lines[i + 1:]:
            if len(after) - len(after.lstrip()) <= depth or "->" in after:
                break
            details.append(after.strip())
        kind, index, table, alias = match.groups()
        found.append((kind, index, table, alias or table, details))
    return found


async def scanned(db: Database, sql: str, *args, allowed: set[str] | None = None,
                  tx=None) -> list[str]:
    """The tables (not key lists or temporary tables in `allowed`) the plan reads whole."""
    text = await plan(db, sql, *args, tx=tx)
    ok = KEY_LISTS | ONE_ADDRESS | (allowed or set())
    if not db.is_sqlite:
        return [name for name in _PG_SCAN.findall(text) if name not in ok]
    whole = [name for name in _SQLITE_SCAN.findall(text) if name not in ok]
    for name, condition in _SQLITE_SEARCH.findall(text):
        columns = {part.split("=")[0].split(">")[0].split("<")[0].strip()
                   for part in condition.split(" AND ")}
        if columns <= LOW_SELECTIVITY:
            whole.append(name)
    return whole


async def assert_indexed(db: Database, sql: str, *args, allowed: set[str] | None = None,
                         tx=None) -> str:
    """Fails naming the tables the plan scans; returns the plan's text."""
    text = await plan(db, sql, *args, tx=tx)
    tables = await scanned(db, sql, *args, allowed=allowed, tx=tx)
    assert not tables, f"{db.engine} scans {tables}:\n{text}"
    return text


def fake_key(i: int, tenant_id: int = 1) -> str:
    """A 64-hex key spread like the service's HMAC keys: `send_log` is indexed by the first 16
    hex digits (service/consent/queries.py), which zero-padded numbers would all share. Another
    tenant's keys differ from the default tenant's (the old uniques stand until migration T2)."""
    if tenant_id == 1:
        return hashlib.sha256(b"fake key %d" % i).hexdigest()
    return hashlib.sha256(b"fake key %d of tenant %d" % (i, tenant_id)).hexdigest()


def contact_of(i: int, tenant_id: int = 1) -> str:
    """The id fill() gives its i-th contact of `tenant_id`."""
    return f"c{i}" if tenant_id == 1 else f"t{tenant_id}c{i}"


async def fill(db: Database, n: int = 10_000, analyze: bool = True, tenant_id: int = 1) -> None:
    """n contacts of `tenant_id`, each with an email address, a preference, a suppression, a
    ledger event and two recorded sends; a tenth of them with a frequency. PostgreSQL then
    gathers statistics (`ANALYZE`, as autovacuum does on a live database); SQLite is left
    without them, as the service leaves it. Another tenant's contacts, references and keys
    differ from the default tenant's (`contact_of`, `fake_key`)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    t = tenant_id
    ids = [contact_of(i, t) for i in range(n)]
    ref = "ref" if t == 1 else f"t{t}ref"
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO contact (tenant_id, id, external_ref, restricted, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
            [(t, c, f"{ref}{i}", False, now) for i, c in enumerate(ids)])
        await tx.executemany(
            "INSERT INTO address (tenant_id, contact_id, channel, address_key, normalized, given,"
            " created_at) VALUES ($1, $2, 'email', $3, $4, $4, $5)",
            [(t, c, fake_key(i, t), f"u{i}@example.com", now) for i, c in enumerate(ids)])
        await tx.executemany(
            "INSERT INTO preference (tenant_id, contact_id, channel, topic, status, updated_at,"
            " seq) VALUES ($1, $2, 'email', '', 'opted_in', $3, 0)", [(t, c, now) for c in ids])
        await tx.executemany(
            "INSERT INTO suppression (tenant_id, channel, address_key, topic, reason, source,"
            " created_at, seq) VALUES ($1, 'email', $2, '', 'unsubscribed', 'test', $3, $4)",
            # each suppression its own change, as the service writes them (the feed joins on it)
            [(t, fake_key(i, t), now, (t - 1) * 10**7 + i + 1) for i in range(n)])
        await tx.executemany(
            "INSERT INTO consent_event (tenant_id, contact_id, channel, topic, action, source,"
            " occurred_at) VALUES ($1, $2, 'email', '', 'opt_in', 'test', $3)",
            [(t, c, now) for c in ids])
        # a tenth of the people chose a frequency, and mailers recorded sends to everybody
        await tx.executemany(
            "INSERT INTO preference (tenant_id, contact_id, channel, topic, status, updated_at,"
            " seq, frequency) VALUES ($1, $2, 'email', 'newsletter', 'opted_in', $3, 0, 'weekly')",
            [(t, c, now) for c in ids[5::10]])
        await tx.executemany(
            "INSERT INTO send_log (tenant_id, channel, address_key, topic, sent_at, campaign)"
            " VALUES ($1, 'email', $2, $3, $4, NULL)",
            [(t, fake_key(i, t), topic, now) for i in range(n)
             for topic in ("newsletter", "offers")])
        if analyze and not db.is_sqlite:
            await tx.execute("ANALYZE")
