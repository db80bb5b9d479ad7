"""Every statement on a tenant's rows names its tenant (issue 18).

A statement that reads or writes a tenant-owned table is `Scoped` (service/db/scoped.py) and
filters every reference to such a table by `alias.tenant_id = $1` (or by the `tenant_id` of a
table already filtered, `x.tenant_id = y.tenant_id`), and an INSERT names `tenant_id` among
its columns; the few statements that work across tenants on purpose are listed in CROSS_TENANT
with the reason. Read from each queries module's constants and from its statement builders,
called with every engine (CALLS).

The queries modules not converted yet are listed in NOT_YET_SCOPED; converting one means
taking it off the list (a listed module that would pass fails the last test, so the list only
shrinks).
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from service.db.engine import Database
from service.db.scoped import MissingTenant, Scoped
from service.db.tenant_db import TenantDb
from tests.test_sql_homes import SERVICE, SQL

# Global tables whose rows one tenant writes and others read: every statement on one is a
# deliberate cross-tenant effect, listed in CROSS_TENANT with its reason (Scoped or not).
SHARED_ACROSS_TENANTS = frozenset({"shared_bounce"})
TENANT_OWNED = frozenset({
    "contact", "address", "topic", "wording_version", "consent_event", "ledger_checkpoint",
    "preference", "suppression", "change_feed", "api_key", "outbox", "webhook_subscription",
    "soft_bounce", "sms_message", "opt_out_code", "external_list", "external_list_key",
    "send_log",
})
# every queries module of the service, found on disk: a new one is checked from its first day
MODULES = tuple(sorted(
    path.relative_to(SERVICE).with_suffix("").as_posix().replace("/", ".")
    for path in SERVICE.rglob("*queries.py")))
# Modules whose statements do not name their tenant yet (issue 18, docs/plans/tenants.md §6),
# in blocks by who converts them (keep to your own block: merges stay clean).
NOT_YET_SCOPED: set[str] = set()  # every module is converted (was a list by owner)
# "module:NAME" -> why the statement works across tenants.
CROSS_TENANT: dict[str, str] = {
    # -- consent, contacts, topics
    "consent.queries:MANY_LAST_SEQ": "SQLite's feed high-water mark: seq is the table's rowid,"
                                     " so the next rows get MAX(seq) + 1, ... whatever tenant",
    "consent.queries:LAST_EVENT_ID": "a checkpoint's event id: ids come from one sequence, so"
                                     " the tenant's later events get higher ids; one probe",

    # -- checks, suppressions, sends
    # Hard-bounce sharing (decision D10, SHARE_HARD_BOUNCES): the one fact tenants share. The
    # global `shared_bounce` holds each tenant's claim that an address hard-bounced; the
    # sharing forms of the state query read the *other* tenants' claims (`tenant_id <> $1`),
    # and answer only `undeliverable` (no tenant, source or time leaves the statement).
    "consent.state_queries:OTHERS_BOUNCED": "the shared part's condition, a fragment of the"
    " three statements below: whether a tenant other than $1 shared a hard bounce of the key",
    "consent.state_queries:SHARED_STATE_SQL": "STATE_SQL plus other tenants' shared hard"
    " bounces, answered as `undeliverable` (only with SHARE_HARD_BOUNCES)",
    "consent.state_queries:SHARED_SQLITE_STATE_KEYED_SQL": "as SHARED_STATE_SQL, keyed (bulk)",
    "consent.state_queries:SHARED_PG_STATE_KEYED_SQL": "as SHARED_STATE_SQL, keyed (bulk)",
    "consent.state_queries:shared_state_keyed_sql": "builds the two keyed forms above",
    "suppression.queries:SHARE_BOUNCE": "writes the acting tenant's own claim ($1) into the"
    " global table every other tenant's sharing check reads",
    "suppression.queries:WITHDRAW_BOUNCE": "withdraws the acting tenant's own claim ($1) when"
    " it lifts its hard bounce; other tenants' claims stay",

    # -- links, pages, records, codes
    "codes.queries:FIND": "a typed code is the credential and names no tenant: the /o page finds"
                          " it by its hash (the primary key) and learns the tenant from the row",
    # -- privacy, webhooks, sms, outbox, ops
    "privacy.queries:COUNT_OUTBOX_SENT": "the outbox is the process's delivery queue: sent"
    " jobs are pruned after RETENTION_OUTBOX_SENT_DAYS whichever tenant queued them",
    "privacy.queries:COUNT_OUTBOX_DEAD": "as COUNT_OUTBOX_SENT, for the jobs given up on",
    "privacy.queries:DELETE_OUTBOX_SENT": "as COUNT_OUTBOX_SENT (the deletes it counts)",
    "privacy.queries:DELETE_OUTBOX_DEAD": "as COUNT_OUTBOX_DEAD (the deletes it counts)",
    "privacy.queries:SQLITE_SENDS_ROWIDS": "only the bounds of the rowid windows retention"
    " walks send_log in (two reads at the ends of the table's B-tree; one tenant's bounds"
    " would read its whole index); each window's DELETE is the tenant's",
    "webhooks.queries:BEHIND": "the fan-out loop serves every tenant's subscriptions in one"
    " pass, each against its own tenant's end of the feed; it returns the tenant_id the job"
    " is queued in",
    "outbox_queries:claim_sql": "one worker delivers every tenant's jobs; it returns each"
    " job's tenant_id, and the job is handled in that tenant (outbox.run_once)",
    "ops.queries:OUTBOX_PENDING": "the outbox gauges of /metrics are the process's, all"
    " tenants' jobs together",

    # -- API keys, tenants
    "apikeys.queries:BY_PREFIX": "authentication: the key's tenant is not known before it is "
                                 "found (api_key.prefix is unique across tenants)",
    "apikeys.queries:TOUCH": "by the id BY_PREFIX just found, during authentication",
}
# "module:function" -> the argument tuples to build its statements with.
CALLS: dict[str, list[tuple]] = {
    # -- consent, contacts, topics
    "consent.queries:many_held_sql": [("sqlite",), ("postgres",)],
    "consent.queries:many_addresses_sql": [("sqlite",), ("postgres",)],
    "consent.queries:chain_heads_sql": [("sqlite",), ("postgres",)],
    "consent.queries:chain_page_sql": [
        (engine, ("id", "contact_id", "hash"), 10, upto)
        for engine in ("sqlite", "postgres") for upto in (False, True)],
    "consent.queries:one_chain_sql": [(10,)],
    "contacts.queries:find_sql": [(True, False), (False, True), (True, True)],
    "contacts.queries:holders_sql": [("sqlite",), ("postgres",)],
    "contacts.queries:contacts_by_ref_sql": [("sqlite",), ("postgres",)],
    "topics.queries:update_sql": [(["name"],), (["name", "channels", "frequencies"],)],

    # -- checks, suppressions, sends
    "consent.state_queries:state_keyed_sql": [("sqlite",), ("postgres",)],
    "consent.state_queries:shared_state_keyed_sql": [("sqlite",), ("postgres",)],
    "suppression.queries:existing_sql": [("sqlite",), ("postgres",)],
    "suppression.queries:contacts_sql": [("sqlite",), ("postgres",)],
    "suppression.queries:snapshot_sql": [((), 10), (("channel", "reason", "topic"), 10)],
    "suppression.queries:changes_sql": [((), 10), (("channel", "value", "topic"), 10)],
    "suppression.queries:export_count_sql": [(None, None, []), ("email", "complaint", [])],
    "suppression.queries:export_page_sql": [
        (engine, channel, reason, [0], 10) for engine in ("sqlite", "postgres")
        for channel, reason in ((None, None), ("email", "complaint"))],
    "suppression.queries:lift_sql": [("sqlite",), ("postgres",)],
    "suppression.queries:stage_keys_sql": [("sqlite",), ("postgres",)],
    "suppression.queries:unstage_sql": [("sqlite",), ("postgres",)],
    "suppression.queries:gone_page_sql": [("sqlite",), ("postgres",)],

    # -- links, pages, records, codes
    "records.queries:wordings_sql": [(1,), (3,)],
    # -- privacy, webhooks, sms, outbox, ops
    "privacy.queries:wordings_sql": [(1,), (3,)],
    "privacy.queries:addresses_of_contacts_sql": [(1,), (500,)],
    "outbox_queries:claim_sql": [("sqlite",), ("postgres",)],

    # -- API keys, tenants

}

_REF = re.compile(r"\b(FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", re.I)
_NOT_ALIAS = {
    "where", "join", "on", "left", "right", "inner", "outer", "cross", "natural", "full", "set",
    "group", "order", "limit", "offset", "using", "values", "select", "union", "returning",
    "default", "as", "window", "having", "except", "intersect", "for", "and", "or",
}


def _filtered(sql: str, alias: str, bare: bool) -> bool:
    value = r"(?:\$1\b|\w+\.tenant_id\b)"
    name = re.escape(alias)
    if re.search(rf"(?<![\w.]){name}\.tenant_id\s*=\s*{value}", sql) or re.search(
            rf"{value}\s*=\s*(?<![\w.]){name}\.tenant_id\b", sql):
        return True
    return bare and re.search(rf"(?<![\w.])tenant_id\s*=\s*{value}", sql) is not None


def unscoped_references(sql: str) -> list[str]:
    """The references to tenant-owned tables in `sql` that no tenant filter covers."""
    found = []
    for match in _REF.finditer(sql):
        verb, table, alias = match.group(1).upper(), match.group(2).lower(), match.group(3)
        if table not in TENANT_OWNED:
            continue
        if verb == "INTO":
            columns = sql[match.end(2):].lstrip()
            if not columns.startswith("(") or "tenant_id" not in columns.split(")", 1)[0]:
                found.append(f"INSERT INTO {table} without a tenant_id column")
            continue
        if alias is None or alias.lower() in _NOT_ALIAS:
            alias = table
        if not _filtered(sql, alias, bare=alias == table):
            found.append(f"{table} {alias} is not filtered by tenant_id")
    return found


def statements(module_name: str) -> dict[str, str]:
    """Each SQL statement of a queries module, by name: its constants and built statements."""
    module = importlib.import_module(f"service.{module_name}")
    found = {name: value for name, value in vars(module).items()
             if isinstance(value, str) and not name.startswith("__") and SQL.search(value)}
    for name, fn in vars(module).items():
        if not inspect.isfunction(fn) or fn.__module__ != module.__name__ or name[0] == "_":
            continue
        calls = CALLS.get(f"{module_name}:{name}")
        if calls is None:
            found[name] = "MISSING FROM CALLS"
            continue
        for n, args in enumerate(calls):
            built = fn(*args)
            for m, sql in enumerate(built if isinstance(built, tuple | list) else [built]):
                found[f"{name}#{n}.{m}"] = sql
    return found


def problems(module_name: str) -> list[str]:
    found = []
    for name, sql in statements(module_name).items():
        key = f"{module_name}:{name.split('#')[0]}"
        if sql == "MISSING FROM CALLS":
            found.append(f"{key}: a statement builder not in CALLS")
            continue
        refs = unscoped_references(sql)
        shares = any(m.group(2).lower() in SHARED_ACROSS_TENANTS for m in _REF.finditer(sql))
        if shares and key not in CROSS_TENANT:
            found.append(f"{key}: reads or writes what tenants share, but is not in CROSS_TENANT")
        if sql.__class__ is not Scoped:
            touches = any(m.group(2).lower() in TENANT_OWNED for m in _REF.finditer(sql))
            if touches and key not in CROSS_TENANT:
                found.append(f"{key}: touches a tenant's table but is not Scoped")
            continue
        found += [f"{key}: {ref}" for ref in refs]
        if "$1" not in sql:
            found.append(f"{key}: Scoped without $1")
    return found


@pytest.mark.parametrize("module_name", sorted(set(MODULES) - NOT_YET_SCOPED))
def test_every_statement_names_its_tenant(module_name):
    assert problems(module_name) == []


def test_the_checker_finds_a_missing_tenant_filter():
    good = Scoped("SELECT a.id FROM address a JOIN contact c ON c.id = a.contact_id"
                  " AND c.tenant_id = a.tenant_id WHERE a.tenant_id = $1 AND a.channel = $2")
    assert unscoped_references(good) == []
    assert unscoped_references(good.replace(" AND c.tenant_id = a.tenant_id", "")) == [
        "contact c is not filtered by tenant_id"]
    assert unscoped_references("DELETE FROM suppression WHERE tenant_id = $1 AND seq = $2") == []
    assert unscoped_references("UPDATE topic SET name = $2 WHERE key = $3") == [
        "topic topic is not filtered by tenant_id"]
    assert unscoped_references("INSERT INTO contact (id, created_at) VALUES ($2, $3)") == [
        "INSERT INTO contact without a tenant_id column"]
    assert unscoped_references(
        "INSERT INTO contact (tenant_id, id) VALUES ($1, $2)") == []
    # a statement on global tables only is none of this test's business
    assert unscoped_references("SELECT slug FROM tenant WHERE id = $1") == []


def test_every_cross_tenant_entry_names_a_statement():
    """A statement renamed or removed takes its CROSS_TENANT entry with it."""
    names = {f"{module}:{name.split('#')[0]}" for module in MODULES
             for name in statements(module)}
    assert sorted(set(CROSS_TENANT) - names) == []


def test_a_statement_on_shared_bounces_must_be_listed():
    assert not any("shared_bounce" in p for p in problems("suppression.queries"))
    sql = Scoped("DELETE FROM shared_bounce WHERE tenant_id = $1")
    assert unscoped_references(sql) == []  # a global table: no tenant filter is asked for...
    assert any(m.group(2) in SHARED_ACROSS_TENANTS for m in _REF.finditer(sql))  # ...a reason is


def test_unconverted_modules_are_listed_until_converted():
    """Shrink-only: a listed module whose statements all name their tenant comes off."""
    converted = sorted(name for name in NOT_YET_SCOPED if not problems(name))
    assert not converted, f"these name their tenant now: take them off NOT_YET_SCOPED: {converted}"


async def test_a_scoped_statement_needs_the_tenants_view(raw_db):
    """The raw database refuses a scoped statement; the tenant's view puts the id in $1."""
    sql = Scoped("SELECT $1 + 0, $2 || ''")
    with pytest.raises(MissingTenant):
        await raw_db.fetch(sql, "x")
    with pytest.raises(MissingTenant):
        async with raw_db.transaction() as tx:
            await tx.execute(sql, "x")
    view = TenantDb(raw_db, 7)
    assert [tuple(r) for r in await view.fetch(sql, "x")] == [(7, "x")]
    assert await view.fetchval(sql, "y") == 7
    assert tuple(await view.fetchrow(sql, "z")) == (7, "z")
    assert [tuple(r) for r in await view.fetch_read(sql, "x")] == [(7, "x")]
    assert [tuple(r) for r in await view.fetch_long(sql, "x")] == [(7, "x")]
    async with view.transaction() as tx:
        assert await tx.fetchval(sql, "w") == 7
        # plain statements pass through unchanged
        assert await tx.fetchval("SELECT $1 || ''", "plain") == "plain"
    assert isinstance(view.raw, Database) and view.is_sqlite == raw_db.is_sqlite
