"""Every hot-path statement filters by tenant_id, so that each would route to one shard if the
tables were distributed by tenant_id (issue 18, "Scale-out"; DEPLOY.md "Distributing by
tenant with Citus").

The hot paths: the single and the bulk check, the one-click unsubscribe, the preference page's
read and write, a consent write through the API, the links of a campaign, an import
(suppressions, contacts and their choices) and recorded sends. Each statement, with two
tenants' rows in the tables (tests/db/test_query_plans.py's `two_tenants`), is explained with
either tenant's id bound to $1 and a placeholder of its type for every other parameter:

- PostgreSQL: every scan of a tenant-owned table (Seq, Index, Index Only, Bitmap Heap Scan)
  carries a `tenant_id = <the tenant>` condition (Index Cond, Recheck Cond or Filter);
- SQLite: every read of a tenant-owned table is a SEARCH through an index whose first column
  is tenant_id (PRAGMA index_info), never a SCAN, a rowid or a primary-key look-up.

Besides the plan, the statement is `Scoped` and its text names the tenant for every table it
touches (tests/test_tenant_scoping.py's checker). The parts of the checks' plans that say which
index each probe takes are tested in tests/db/test_query_plans.py; this test is about the one
condition a distributed database routes on.
"""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime

from service.consent.queries import MANY_TEMP_DEFINITION, MANY_TEMP_TABLE
from service.db.scoped import Scoped
from service.db.sqlite import to_sqlite
from service.db.tenant_db import TenantDb
from service.suppression.queries import PG_KEYS_TABLE
from tests.db.plans import pg_scan_nodes, plan
from tests.db.test_query_plans import two_tenants  # noqa: F401  (the fixture)
from tests.test_tenant_scoping import _REF, TENANT_OWNED, unscoped_references

# path -> the statements it runs, as "module:NAME" (a constant, or a builder called with the
# engine; a name missing from one engine's module is the other engine's form).
HOT_PATHS: dict[str, tuple[str, ...]] = {
    "single check": ("consent.state_queries:STATE_SQL",),
    "bulk check": ("consent.state_queries:state_keyed_sql",),
    "one-click unsubscribe": (
        "unsubscribe.queries:DONE_SQL", "unsubscribe.queries:STATUS_SQL",
        "consent.queries:PREFERENCE", "consent.queries:UPSERT_PREFERENCE",
        "consent.queries:CHAIN_HEAD", "consent.queries:INSERT_EVENT",
        "consent.queries:INSERT_CHANGE", "suppression.queries:EXISTS",
        "suppression.queries:INSERT", "contacts.queries:WITH_ADDRESSES"),
    "preference page read": (
        "contacts.queries:ADDRESSES_OF", "consent.queries:PREFERENCES_OF",
        "consent.state_queries:STATE_SQL", "topics.queries:CACHE_ALL",
        "contacts.queries:BY_ADDRESS"),
    "preference page write": (
        "consent.queries:PREFERENCE", "consent.queries:UPSERT_PREFERENCE",
        "consent.queries:PACE", "consent.queries:UPSERT_PACE",
        "consent.queries:LATEST_OBJECTION", "consent.queries:CHAIN_HEAD",
        "consent.queries:INSERT_EVENT", "consent.queries:INSERT_CHANGE",
        "preferences.queries:RECORD_NOOP"),
    "consent write (API)": (
        "contacts.queries:EXISTS", "consent.queries:PREFERENCE",
        "consent.queries:UPSERT_PREFERENCE", "consent.queries:CHAIN_HEAD",
        "consent.queries:INSERT_EVENT", "consent.queries:INSERT_CHANGE",
        "contacts.queries:TOUCH"),
    "links": (
        "unsubscribe.queries:LOOKUP_SQLITE", "unsubscribe.queries:LOOKUP_SQLITE_JSON",
        "unsubscribe.queries:LOOKUP_PG", "unsubscribe.queries:INSERT_CONTACT",
        "unsubscribe.queries:INSERT_ADDRESS", "unsubscribe.queries:INSERT_CONTACTS_PG",
        "unsubscribe.queries:INSERT_ADDRESSES_PG"),
    "suppression import": (
        "suppression.queries:existing_sql", "suppression.queries:contacts_sql",
        "suppression.queries:LAST_SEQ", "suppression.queries:PG_ADD_MANY",
        "suppression.queries:SQLITE_INSERT_FEED", "suppression.queries:SQLITE_INSERT_FROM_FEED"),
    "contact import": (
        "contacts.queries:holders_sql", "contacts.queries:contacts_by_ref_sql",
        "contacts.queries:INSERT_CONTACT", "contacts.queries:IMPORT_SET_REF",
        "contacts.queries:ADD_ADDRESS", "consent.queries:many_held_sql",
        "consent.queries:many_addresses_sql", "consent.queries:chain_heads_sql",
        "consent.queries:MANY_INSERT_EVENT", "consent.queries:MANY_INSERT_FEED",
        "consent.queries:PG_MANY_APPLY"),
    "sends": ("sends.queries:SQLITE_INSERT", "sends.queries:PG_INSERT"),
}
# SQLite: "module:NAME" -> why its plan finds a tenant's row by a global id, not through a
# tenant-leading index. Contact ids are global uuids (docs/plans/tenants.md D7), so the search
# by id reads one contact's rows and `tenant_id = $1` is compared in them: the statement still
# names its tenant, which is what a distributed database routes on (PostgreSQL's plans show the
# condition as the scan's Filter). Shrink-only: an entry whose plan leads with tenant_id fails.
SQLITE_BY_GLOBAL_ID: dict[str, str] = {
    "contacts.queries:EXISTS": "the contact's primary key (id)",
    "contacts.queries:TOUCH": "the contact's primary key (id)",
    "contacts.queries:IMPORT_SET_REF": "the contact's primary key (id)",
    "contacts.queries:ADDRESSES_OF": "address_contact_id (contact_id), the foreign key's index,"
                                     " which SQLite prefers without statistics",
}
_BY_ID = re.compile(r"^SEARCH \w+ USING (?:COVERING )?INDEX \w+ \((id|contact_id)=\?")
# a statement of one engine only (its name says so, or it works on a temporary table of one)
_ONLY = {"sqlite": re.compile(r"(^|_)PG(_|$)"), "postgres": re.compile(r"(^|_)SQLITE(_|$)")}
# the temporary tables PostgreSQL's batch statements read (made on the explaining connection)
PG_TEMP_TABLES = {PG_KEYS_TABLE: "key text", MANY_TEMP_TABLE: MANY_TEMP_DEFINITION}
NOW = datetime(2026, 12, 1, tzinfo=UTC)
# a placeholder per PostgreSQL parameter type (the plan's shape does not depend on it)
PG_PLACEHOLDERS = {"int2": 0, "int4": 0, "int8": 0, "text": "x", "varchar": "x", "bpchar": "x",
                   "bool": False, "timestamptz": NOW, "timestamp": NOW.replace(tzinfo=None),
                   "text[]": [], "varchar[]": [], "json": "{}", "jsonb": "{}", "float8": 0.0,
                   "numeric": 0, "bytea": b""}


def hot_statements(engine: str) -> dict[str, str]:
    """"module:NAME" -> the statement `engine` runs, for every statement of HOT_PATHS."""
    found = {}
    for path in sorted({name for names in HOT_PATHS.values() for name in names}):
        if _ONLY[engine].search(path.split(":")[1]):
            continue
        module, name = path.split(":")
        value = getattr(importlib.import_module(f"service.{module}"), name)
        found[path] = value(engine) if callable(value) else value
    return found


def _alias_tables(sql: str) -> dict[str, str]:
    """alias (or table name) -> table, of each tenant-owned table the statement names."""
    found = {}
    for match in _REF.finditer(sql):
        table, alias = match.group(2).lower(), match.group(3)
        if table in TENANT_OWNED:
            found[table] = table
            if alias:
                found[alias] = table
    return found


def pg_scans(text: str) -> list[str]:
    """The scans of tenant-owned tables in a PostgreSQL plan (table and alias)."""
    return [f"{table} {alias}" for _, _, table, alias, _ in pg_scan_nodes(text)
            if table in TENANT_OWNED]


def pg_unrouted(text: str, tenant: int) -> list[str]:
    """The scans of a tenant-owned table in a PostgreSQL plan without the tenant's condition."""
    found = []
    for kind, index, table, alias, details in pg_scan_nodes(text):
        if table not in TENANT_OWNED:
            continue
        conditions = [d for d in details
                      if d.startswith(("Index Cond:", "Recheck Cond:", "Filter:"))]
        if not any(re.search(rf"\btenant_id = {tenant}\b", c) for c in conditions):
            using = f" using {index}" if index else ""
            found.append(f"{kind}{using} on {table} {alias} {conditions}")
    return found


_SQLITE_READ = re.compile(r"\b(SCAN|SEARCH) (\w+)(?: USING (?:COVERING )?INDEX (\w+))?(.*)")


def sqlite_reads(sql: str, text: str) -> list[str]:
    """The lines of SQLite's plan that read a tenant-owned table."""
    tables = _alias_tables(sql)
    return [line for line in text.splitlines()
            if (m := _SQLITE_READ.search(line)) and m.group(2) in tables]


def sqlite_unrouted(conn, sql: str, text: str) -> list[str]:
    """The reads of a tenant-owned table in SQLite's plan that are not searches of an index
    whose first column is tenant_id."""
    tables, found = _alias_tables(sql), []
    for line in text.splitlines():
        match = _SQLITE_READ.search(line)
        if not match or match.group(2) not in tables:
            continue
        verb, index, rest = match.group(1), match.group(3), match.group(4)
        first = conn.execute(f"PRAGMA index_info({index})").fetchone() if index else None
        if verb != "SEARCH" or first is None or first[2] != "tenant_id" \
                or not rest.strip().startswith("(tenant_id=?"):
            found.append(line.strip())
    return found


async def explain(view: TenantDb, sql: Scoped, conn=None) -> str:
    """The plan of `sql` as `view`'s tenant runs it (tests/db/plans.py `plan`: its id in $1),
    with a placeholder for every other parameter: None on SQLite, a value of the parameter's
    type on PostgreSQL, explained on `conn` (where the temporary tables are)."""
    if view.is_sqlite:
        count = max((int(n) for n in re.findall(r"\$(\d+)", sql.plain)), default=1)
        return await plan(view, sql, *[None] * (count - 1))
    types = [t.name for t in (await conn.prepare("EXPLAIN " + sql.plain)).get_parameters()]
    assert types[0] in ("int2", "int4", "int8"), types
    return await plan(view, sql, *[PG_PLACEHOLDERS[t] for t in types[1:]], tx=conn)


def test_every_hot_statement_names_its_tenant():
    """The statements exist (a rename fails here, not silently), are `Scoped`, and the text
    filters every tenant-owned table by the tenant (or inserts it)."""
    for engine in ("sqlite", "postgres"):
        for path, sql in hot_statements(engine).items():
            assert sql.__class__ is Scoped, path
            assert unscoped_references(sql) == [], path
            assert _alias_tables(sql), f"{path} touches no tenant-owned table"


async def test_every_hot_statement_routes_to_its_tenant(two_tenants, raw_db):  # noqa: F811
    """Each hot-path statement's plan, for either tenant, reads every tenant-owned table under
    that tenant's condition (PostgreSQL) or through a tenant-leading index (SQLite)."""
    engine = "sqlite" if raw_db.is_sqlite else "postgres"
    statements = hot_statements(engine)
    problems: dict[str, list[str]] = {}
    reads: dict[str, int] = {}  # path -> the reads of tenant-owned tables in its plan
    if raw_db.is_sqlite:
        for tenant in (1, 2):
            view = TenantDb(raw_db, tenant)
            for path, sql in statements.items():
                text = await explain(view, sql)
                reads[path] = len(sqlite_reads(to_sqlite(sql.plain), text))
                bad = sqlite_unrouted(raw_db._reader, to_sqlite(sql.plain), text)
                if path in SQLITE_BY_GLOBAL_ID:  # one contact's rows, by its global id
                    if not bad or not all(_BY_ID.match(line) for line in bad):
                        problems[f"{path} (tenant {tenant}): take it off SQLITE_BY_GLOBAL_ID"
                                 " or fix it"] = [text]
                elif bad:
                    problems[f"{path} (tenant {tenant})"] = [*bad, text]
    else:
        async with raw_db.pool.acquire() as conn:
            for table, columns in PG_TEMP_TABLES.items():
                await conn.execute(f"CREATE TEMPORARY TABLE {table} ({columns})")
            try:
                for tenant in (1, 2):
                    view = TenantDb(raw_db, tenant)
                    for path, sql in statements.items():
                        text = await explain(view, sql, conn)
                        reads[path] = len(pg_scans(text))
                        if bad := pg_unrouted(text, tenant):
                            problems[f"{path} (tenant {tenant})"] = [*bad, text]
            finally:
                for table in PG_TEMP_TABLES:
                    await conn.execute(f"DROP TABLE IF EXISTS {table}")
    # every statement that reads a tenant's table (not only inserts into one) has the reads
    # in its plan: the checks above saw them
    unread = [path for path, n in reads.items() if not n and any(
        m.group(1).upper() != "INTO" and m.group(2).lower() in TENANT_OWNED
        for m in _REF.finditer(statements[path]))]
    assert not unread, f"no read of a tenant-owned table found in the plans of {unread}"
    assert not problems, "\n\n".join(f"{path}:\n" + "\n".join(lines)
                                     for path, lines in problems.items())


def test_the_shape_checks_find_an_unrouted_scan():
    """The plan readers fail what they should (plans as the engines print them)."""
    pg = ("Nested Loop\n"
          "  ->  Index Scan using address_tenant_channel_key on address a\n"
          "        Index Cond: ((tenant_id = 2) AND ((channel)::text = 'x'::text))\n"
          "  ->  Index Scan using contact_pkey on contact c\n"
          "        Index Cond: (id = a.contact_id)\n")
    assert pg_unrouted(pg, 2) == [
        "Index Scan using contact_pkey on contact c ['Index Cond: (id = a.contact_id)']"]
    assert len(pg_unrouted(pg, 1)) == 2
    assert pg_unrouted("Seq Scan on topic\n  Filter: (tenant_id = 1)", 1) == []
    assert pg_unrouted("Seq Scan on topic", 1) == ["Seq Scan on topic topic []"]
