"""Every statement that joins a list of keys against a table probes the table's index, on both
engines (issue 13: SQLite compared each key of an import with every suppression of a channel,
and the import never finished). A planner change that turns a probe into a scan fails here."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from service.consent.queries import (
    CHAIN_EVENT_COLUMNS,
    CHAIN_HEAD,
    chain_heads_sql,
    chain_page_sql,
    one_chain_sql,
)
from service.consent.state_queries import (
    PG_STATE_KEYED_SQL,
    SHARED_PG_STATE_KEYED_SQL,
    SHARED_SQLITE_STATE_KEYED_SQL,
    SHARED_STATE_SQL,
    SQLITE_STATE_KEYED_SQL,
    STATE_SQL,
)
from service.contacts.queries import holders_sql
from service.db.keys import keys_arg, rows_arg
from service.db.tenant_db import TenantDb
from service.privacy.queries import DELETE_SENDS_OF, SQLITE_DELETE_SENDS
from service.suppression.queries import (
    LAST_SEQ,
    PG_ADD_MANY,
    PG_KEYS_TABLE,
    changes_sql,
    contacts_sql,
    existing_sql,
    snapshot_sql,
)
from service.unsubscribe import queries as unsub
from tests.db.plans import assert_indexed, fake_key, fill, pg_scan_nodes, plan

KEYS = [fake_key(i) for i in (3, 5_000, 9_999)] + ["f" * 64]


@pytest.fixture
async def filled(db):
    await fill(db)
    return db


async def test_existing_suppressions_probe_the_unique_index(filled):
    await assert_indexed(filled, existing_sql(filled.engine), "email", "", "unsubscribed",
                         keys_arg(filled.engine, KEYS))


async def test_contacts_of_keys_probe_the_address_index(filled):
    await assert_indexed(filled, contacts_sql(filled.engine), "email",
                         keys_arg(filled.engine, KEYS))


async def test_holders_of_addresses_probe_the_address_index(filled):
    pairs = [("email", k) for k in KEYS] + [("sms", KEYS[0])]
    await assert_indexed(filled, holders_sql(filled.engine),
                         *rows_arg(filled.engine, pairs, 2))


async def test_single_check_probes_every_table_it_reads(filled):
    await assert_indexed(filled, STATE_SQL, "email", KEYS[1])


async def test_bulk_check_probes_every_table_it_reads(filled):
    if filled.is_sqlite:
        await assert_indexed(filled, SQLITE_STATE_KEYED_SQL, "email", json.dumps(KEYS))
    else:
        await assert_indexed(filled, PG_STATE_KEYED_SQL, "email", ",".join(KEYS))


async def test_the_sharing_forms_probe_the_shared_bounce_index(filled):
    """With SHARE_HARD_BOUNCES the checks also ask whether another tenant saw the key
    hard-bounce: a probe of `shared_bounce_key` (channel, address_key, tenant_id) per key."""
    now = datetime.now(UTC)
    async with filled.transaction() as tx:
        await tx.executemany("INSERT INTO shared_bounce (channel, address_key, tenant_id,"
                             " created_at) VALUES ($1, $2, $3, $4)",
                             [("email", fake_key(i), 1 + i % 3, now) for i in range(0, 10_000, 2)])
    if not filled.is_sqlite:
        await filled.execute("ANALYZE shared_bounce")
    keyed = (SHARED_SQLITE_STATE_KEYED_SQL, json.dumps(KEYS)) if filled.is_sqlite else (
        SHARED_PG_STATE_KEYED_SQL, ",".join(KEYS))
    for sql, arg in ((SHARED_STATE_SQL, KEYS[1]), keyed):
        # SQLite's "SCAN CONSTANT ROW": the single form's part has no FROM (one row, or none)
        text = await assert_indexed(filled, sql, "email", arg, allowed={"CONSTANT"})
        assert "shared_bounce_key" in text, text


async def test_chain_heads_probe_the_ledger_index(filled):
    """A writer reads its contacts' chain heads, one or a batch's, by (contact_id, id)."""
    ids = [r[0] for r in await filled.fetch("SELECT contact_id FROM consent_event LIMIT 3")]
    await assert_indexed(filled, CHAIN_HEAD, ids[0])
    await assert_indexed(filled, chain_heads_sql(filled.engine),
                         keys_arg(filled.engine, [*ids, "nobody"]))


async def test_ledger_pages_walk_the_chain_index_in_order(filled):
    """verify and checkpoints read the chains a page at a time from where the last ended:
    an index range in chain order, never the whole table sorted per page."""
    contact = await filled.fetchval("SELECT MIN(contact_id) FROM consent_event")
    # the tenant's chain index, or (until migration T2 drops it) the old one of every chain
    indexes = ("consent_event_tenant_contact_seq ", "consent_event_contact_seq ") \
        if filled.is_sqlite else ("consent_event_tenant_chain ", "consent_event_chain ")
    for sql, args in ((chain_page_sql(filled.engine, CHAIN_EVENT_COLUMNS, 500), (contact, 0)),
                      (chain_page_sql(filled.engine, ("id", "contact_id", "hash"), 500, True),
                       (contact, 0, 10**9))):
        text = await plan(filled, sql, *args)
        assert any(index in text for index in indexes), text
        assert "SORT" not in text.upper() and "Seq Scan" not in text, text
    await assert_indexed(filled, one_chain_sql(500), contact, 0)


async def test_link_lookup_probes_the_address_index(filled):
    """Each key is a probe of an address unique (the tenant's, or until migration T2 the old
    one) on the address key, never a read of the tenant's or the channel's addresses."""
    if filled.is_sqlite:
        texts = [await assert_indexed(filled, unsub.LOOKUP_SQLITE, "email", json.dumps(KEYS)),
                 await assert_indexed(filled, unsub.LOOKUP_SQLITE_JSON, "email",
                                      json.dumps(KEYS))]
    else:
        texts = [await assert_indexed(filled, unsub.LOOKUP_PG, "email", KEYS)]
    for text in texts:
        lines = text.splitlines()
        [at] = [i for i, line in enumerate(lines)
                if re.search(r"\baddress_(tenant_)?channel_key\b", line)]
        condition = lines[at] if filled.is_sqlite else lines[at + 1]  # PG: its Index Cond
        assert "address_key" in condition, text


@pytest.mark.parametrize("statistics", ["stale", "none"])
@pytest.mark.parametrize("batch", [len(KEYS), 1_000])
async def test_postgres_bulk_add_probes_indexes_even_with_stale_statistics(db, statistics,
                                                                           batch):
    """Statistics taken while the tables were empty, as during a first import, or none at all
    (no statistics on tenant_id either: `tenant_id = $1` then looks selective): the batch's
    statement still probes the address index per key, by tenant, channel and key, and the
    unique index decides what is new (a hash join over a stale estimate read the whole table
    per batch; an index on the tenant and channel alone would read the tenant's addresses per
    key)."""
    if db.is_sqlite:
        pytest.skip("the COPY batch is PostgreSQL's; SQLite's statements are tested above")
    if statistics == "stale":
        await db.execute("ANALYZE")
        await fill(db, analyze=False)
    else:
        await fill(db)
        async with db.transaction() as tx:  # as if never analysed (TRUNCATE keeps them)
            for table in ("address", "suppression"):
                await tx.execute("DELETE FROM pg_statistic WHERE starelid ="
                                 " CAST($1 AS regclass)", table)
                await tx.execute("UPDATE pg_class SET reltuples = -1, relpages = 0"
                                 " WHERE oid = CAST($1 AS regclass)", table)
    keys = KEYS + [fake_key(i * 7) for i in range(batch - len(KEYS))]
    async with db.transaction() as tx:
        await tx.copy_to_temp(PG_KEYS_TABLE, "key text", [(k,) for k in keys], ["key"])
        text = await assert_indexed(
            db, PG_ADD_MANY, "email", "", "unsubscribed", "import", datetime.now(UTC), None,
            tx=tx, allowed={PG_KEYS_TABLE})
    probe = text.split("address_tenant_channel_key", 1)[1].split("\n", 2)[1]
    assert "Index Cond" in probe and "tenant_id" in probe and "address_key" in probe, text
    assert "Conflict Arbiter Indexes: suppression_tenant_channel_key_topic_reason" in text, text


async def test_sends_are_read_only_under_a_preference_row(filled):
    """Rule 7 adds no probe of its own: the sends are read by subqueries of the preference
    part (evaluated, by their CASE, only for a row that carries a pace), through the
    `send_log_tenant_key_prefix` index (the tenant and the key's first 16 hex digits), in both
    forms of the state query."""
    keyed = (SQLITE_STATE_KEYED_SQL, json.dumps(KEYS)) if filled.is_sqlite else (
        PG_STATE_KEYED_SQL, ",".join(KEYS))
    for sql, arg in ((STATE_SQL, KEYS[1]), keyed):
        text = await assert_indexed(filled, sql, "email", arg)
        lines = text.splitlines()
        # the preference part's and the restricted part's; PostgreSQL may start the latter from
        # the restricted contacts (test_restricted_contacts_are_found_through_their_index)
        probes_of_key = {2} if filled.is_sqlite else {1, 2}
        assert sum("address_tenant_channel_key" in line for line in lines) in probes_of_key, text
        preference = next(i for i, line in enumerate(lines)
                          if "SEARCH p " in line or " on preference p" in line)
        sends = [i for i, line in enumerate(lines) if "send_log_tenant_key_prefix" in line]
        assert len(sends) == 2 and min(sends) > preference, text  # the cap's and the topic's
        if filled.is_sqlite:
            assert "CORRELATED SCALAR SUBQUERY" in lines[preference + 1], text
        else:
            assert "SubPlan" in text, text


async def test_restricted_contacts_are_found_through_their_index(filled):
    """PostgreSQL: the checks' restricted part reads contact only through
    `contact_tenant_restricted` (the partial index of the few restricted contacts, migration
    2026-12-10T10:00); the bulk check starts from it and then finds their addresses on the
    channel, where before it a chunk of 10,000 keys probed `address` once more per key and
    `contact` per address, or read the whole contact table (~65 ms of a ~270 ms chunk,
    bench/NOTES.md). The same answer: a restricted contact's address is restricted."""
    if filled.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite's bulk statement fixes its join order")
    many = [fake_key(i) for i in range(0, 10_000, 3)]  # a bulk chunk's worth, most with a row
    await filled.execute("UPDATE contact SET restricted = $1 WHERE tenant_id = 1 AND id = $2",
                         True, "c3")  # KEYS[0]'s contact
    for sql, arg in ((STATE_SQL, KEYS[0]), (PG_STATE_KEYED_SQL, ",".join(many))):
        text = await plan(filled, sql, "email", arg)
        contact = [(index, details[0]) for _, index, table, _, details in pg_scan_nodes(text)
                   if table == "contact"]
        assert contact == [("contact_tenant_restricted", "Index Cond: (tenant_id = 1)")], text
    single = await filled.fetch(STATE_SQL, "email", KEYS[0])
    assert [r[0] for r in single if r[0] == "r"] == ["r"], single
    keyed = await filled.fetch(PG_STATE_KEYED_SQL, "email", ",".join(many))
    assert [r[0] for r in keyed if r[1] == "r"] == [KEYS[0]], keyed


async def test_sends_are_erased_and_pruned_through_indexes(filled):
    """An erasure deletes an address's sends in its tenant through `send_log_tenant_key_prefix`
    (or the old `send_log_key_prefix` until migration T2 drops it); retention on SQLite walks
    send_log a window of rowids at a time, never the tenant's index (there is no index on
    sent_at; on PostgreSQL it is one scan, which blocks nobody)."""
    await assert_indexed(filled, DELETE_SENDS_OF, "email", KEYS[1])
    if filled.is_sqlite:
        text = await assert_indexed(filled, SQLITE_DELETE_SENDS, datetime.now(UTC), 100, 600)
        assert "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in text, text


# The index each probe of the checks takes, by the alias the state query gives its table.
TENANT_INDEXES = {"s": "suppression_tenant_channel_key_topic_reason",
                  "a": "address_tenant_channel_key",
                  "p": "preference_tenant_contact_channel_topic",
                  "l": "send_log_tenant_key_prefix"}
_SQLITE_PROBE = re.compile(r"SEARCH (\w+) USING (?:COVERING )?INDEX (\w+) \((.*)\)")
_PG_PARTITION = re.compile(r"_\d+$")


def probes(text: str, sqlite: bool) -> list[tuple[str, str, str]]:
    """(alias, index, the rest of its node: conditions and filters) of each index probe."""
    if sqlite:
        return [(alias, index, condition) for alias, index, condition
                in _SQLITE_PROBE.findall(text)]
    return [(_PG_PARTITION.sub("", alias), index, " ".join(details))
            for kind, index, _, alias, details in pg_scan_nodes(text)
            if kind in ("Index Scan", "Index Only Scan")]


@pytest.fixture
async def two_tenants(db):
    """fill()'s rows in tenant 1, and 3,000 people with other keys in tenant 2 (T1 keeps the
    old uniques, so no key is both tenants' yet); PostgreSQL analyses both at the end."""
    await fill(db, analyze=False)
    await fill(db, n=3_000, tenant_id=2)
    return db


async def test_every_probe_of_the_checks_names_the_tenant(two_tenants, raw_db):
    """Either tenant's single check and bulk check (both engines' forms) find an address's
    suppressions, its address row and its sends through the tenant-leading index, the tenant
    the first column of the search; the preferences by the contact the address names, with the
    tenant in the search or (PostgreSQL, which may take the contact's index: contact ids are
    global, so that probe reads one contact's rows) compared in the rows found."""
    sqlite = two_tenants.is_sqlite
    for tenant in (1, 2):
        view = TenantDb(raw_db, tenant)
        keys = [fake_key(i, tenant) for i in (3, 500, 2_999)] + ["f" * 64]
        keyed = (SQLITE_STATE_KEYED_SQL, json.dumps(keys)) if sqlite else (
            PG_STATE_KEYED_SQL, ",".join(keys))
        for sql, arg in ((STATE_SQL, keys[1]), keyed):
            text = await assert_indexed(view, sql, "email", arg)
            found = [p for p in probes(text, sqlite) if p[0] in TENANT_INDEXES]
            assert {alias for alias, _, _ in found} == set(TENANT_INDEXES), text
            for alias, index, rest in found:
                if sqlite:
                    assert index == TENANT_INDEXES[alias], text
                    assert rest.startswith("tenant_id=? AND "), text
                elif alias != "p":
                    # the restricted part may find an address by its restricted contact
                    assert index == TENANT_INDEXES[alias] or (alias, index) == (
                        "a", "address_tenant_contact_channel"), text
                    assert rest.startswith(f"Index Cond: ((tenant_id = {tenant}) AND "), text
                else:
                    assert "contact_id" in rest and f"tenant_id = {tenant}" in rest, text
            if sqlite:
                assert "(tenant_id=? AND channel=? AND address_key=?)" in text, text


async def test_the_feed_reads_one_tenants_rows_through_its_indexes(two_tenants, raw_db):
    """The change feed of each tenant: its high-water mark, the snapshot and the changes,
    found through the tenant's feed and sequence indexes (never a scan of another tenant's)."""
    now = datetime.now(UTC)
    async with two_tenants.transaction() as tx:
        await tx.executemany(
            "INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic, value,"
            " source, occurred_at) VALUES ($1, 'suppression', 'added', 'email', $2, '',"
            " 'unsubscribed', 'test', $3)",
            [(t, fake_key(i, t), now) for t, n in ((1, 10_000), (2, 3_000)) for i in range(n)])
        if not two_tenants.is_sqlite:
            await tx.execute("ANALYZE")
    for tenant in (1, 2):
        view = TenantDb(raw_db, tenant)
        if view.is_sqlite:  # MAX(seq) under tenant_id=?: the last entry of the tenant's range
            assert await plan(view, LAST_SEQ) == (  # (SQLite's min/max optimisation)
                "SEARCH change_feed USING COVERING INDEX change_feed_tenant_seq (tenant_id=?)")
        else:
            await assert_indexed(view, LAST_SEQ)
        for sql, args in ((snapshot_sql(("channel",), 1000), (0, 10**9, "email")),
                          (changes_sql(("channel",), 1000), (0, "email")),
                          (changes_sql((), 1000), (0,))):
            text = await assert_indexed(view, sql, *args)
            if view.is_sqlite:
                assert "tenant_id=? AND" in text.splitlines()[0], text
