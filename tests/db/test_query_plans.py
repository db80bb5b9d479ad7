"""Every statement that joins a list of keys against a table probes the table's index, on both
engines (issue 13: SQLite compared each key of an import with every suppression of a channel,
and the import never finished). A planner change that turns a probe into a scan fails here."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from service.consent.queries import (
    CHAIN_EVENT_COLUMNS,
    CHAIN_HEAD,
    chain_heads_sql,
    chain_page_sql,
    one_chain_sql,
)
from service.consent.state_queries import PG_STATE_KEYED_SQL, SQLITE_STATE_KEYED_SQL, STATE_SQL
from service.contacts.queries import holders_sql
from service.db.keys import keys_arg, rows_arg
from service.privacy.queries import DELETE_SENDS_OF, SQLITE_DELETE_SENDS
from service.suppression.queries import (
    PG_ADD_MANY,
    PG_KEYS_TABLE,
    contacts_sql,
    existing_sql,
)
from service.unsubscribe import queries as unsub
from tests.db.plans import assert_indexed, fake_key, fill, plan

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
    index = "consent_event_contact_seq" if filled.is_sqlite else "consent_event_chain"
    for sql, args in ((chain_page_sql(filled.engine, CHAIN_EVENT_COLUMNS, 500), (contact, 0)),
                      (chain_page_sql(filled.engine, ("id", "contact_id", "hash"), 500, True),
                       (contact, 0, 10**9))):
        text = await plan(filled, sql, *args)
        assert index in text and "SORT" not in text.upper() and "Seq Scan" not in text, text
    await assert_indexed(filled, one_chain_sql(500), contact, 0)


async def test_link_lookup_probes_the_address_index(filled):
    if filled.is_sqlite:
        await assert_indexed(filled, unsub.LOOKUP_SQLITE, "email", json.dumps(KEYS))
        await assert_indexed(filled, unsub.LOOKUP_SQLITE_JSON, "email", json.dumps(KEYS))
    else:
        await assert_indexed(filled, unsub.LOOKUP_PG, "email", KEYS)


async def test_postgres_bulk_add_probes_indexes_even_with_stale_statistics(db):
    """Statistics taken while the tables were empty, as during a first import: the batch's
    statement still probes the address index per key, and the unique index decides what is
    new (a hash join over a stale estimate read the whole table per batch)."""
    if db.is_sqlite:
        pytest.skip("the COPY batch is PostgreSQL's; SQLite's statements are tested above")
    await db.execute("ANALYZE")
    await fill(db, analyze=False)
    async with db.transaction() as tx:
        await tx.copy_to_temp(PG_KEYS_TABLE, "key text", [(k,) for k in KEYS], ["key"])
        text = await assert_indexed(
            db, PG_ADD_MANY, "email", "", "unsubscribed", "import", datetime.now(UTC), None,
            tx=tx, allowed={PG_KEYS_TABLE})
    probe = text.split("address_channel_key", 1)[1].split("\n", 2)[1]
    assert "Index Cond" in probe and "address_key" in probe, text
    assert "Conflict Arbiter Indexes: suppression_channel_key_topic_reason" in text, text


async def test_sends_are_read_only_under_a_preference_row(filled):
    """Rule 7 adds no probe of its own: the sends are read by subqueries of the preference
    part (evaluated, by their CASE, only for a row that carries a pace), through the
    `send_log_key_prefix` index (the key's first 16 hex digits), in both forms of the
    state query."""
    keyed = (SQLITE_STATE_KEYED_SQL, json.dumps(KEYS)) if filled.is_sqlite else (
        PG_STATE_KEYED_SQL, ",".join(KEYS))
    for sql, arg in ((STATE_SQL, KEYS[1]), keyed):
        text = await assert_indexed(filled, sql, "email", arg)
        lines = text.splitlines()
        assert sum("address_channel_key" in line for line in lines) == 2, text  # p and r
        preference = next(i for i, line in enumerate(lines)
                          if "preference_contact_channel_topic" in line)
        sends = [i for i, line in enumerate(lines) if "send_log_key_prefix" in line]
        assert len(sends) == 2 and min(sends) > preference, text  # the cap's and the topic's
        if filled.is_sqlite:
            assert "CORRELATED SCALAR SUBQUERY" in lines[preference + 1], text
        else:
            assert "SubPlan" in text, text


async def test_sends_are_erased_and_pruned_through_indexes(filled):
    """An erasure deletes an address's sends in its tenant through `send_log_tenant_key_prefix`
    (or the old `send_log_key_prefix` until migration T2 drops it); retention on SQLite walks
    send_log a window of rowids at a time, never the tenant's index (there is no index on
    sent_at; on PostgreSQL it is one scan, which blocks nobody)."""
    await assert_indexed(filled, DELETE_SENDS_OF, "email", KEYS[1])
    if filled.is_sqlite:
        text = await assert_indexed(filled, SQLITE_DELETE_SENDS, datetime.now(UTC), 100, 600)
        assert "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in text, text
