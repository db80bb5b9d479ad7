"""The contacts import's keyed look-ups probe the index of the table they look up, on both
engines, with the table at a real size and a batch's worth of keys (with a few keys, a plain
join of `unnest` on PostgreSQL was planned well; with 1,000 it became a hash join over a seq
scan). The statements are the importer's own (issue 13)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from service.consent import queries as cq
from service.contacts.queries import contacts_by_ref_sql, holders_sql
from service.db.keys import keys_arg, rows_arg
from service.db.tenant_db import TenantDb
from service.suppression.queries import PG_LIFT_MANY, lift_sql
from tests.db.plans import assert_indexed, fake_key, fill, plan

KEYS = 1000  # a batch's worth, against fill()'s 10,000 rows


async def test_contacts_by_external_ref_probe_its_unique_index(db):
    await fill(db)
    await assert_indexed(db, contacts_by_ref_sql(db.engine),
                         keys_arg(db.engine, [f"ref{i * 7}" for i in range(KEYS)] + ["no-such"]))


async def test_holders_of_addresses_probe_the_channel_and_key_index(db):
    await fill(db)
    keys = [("email", fake_key(i * 3)) for i in range(KEYS)] + [("sms", fake_key(2))]
    await assert_indexed(db, holders_sql(db.engine), *rows_arg(db.engine, keys, 2))


async def test_preferences_held_probe_the_contact_channel_topic_index(db):
    await fill(db)
    keys = [(f"c{i * 5}", "email", "") for i in range(KEYS)] + [("c1", "sms", "news")]
    await assert_indexed(db, cq.many_held_sql(db.engine), *rows_arg(db.engine, keys, 3))


async def test_the_postgresql_consent_write_reads_only_its_own_batch(db):
    if db.is_sqlite:
        pytest.skip("SQLite writes with executemany: no join")
    await fill(db)
    async with db.transaction() as tx:  # the temporary table lives on this connection
        await tx.copy_to_temp(cq.MANY_TEMP_TABLE, cq.MANY_TEMP_DEFINITION, [],
                              cq.MANY_TEMP_COLUMNS)
        text = await plan(db, cq.PG_MANY_APPLY, tx=tx)
    scanned = set(re.findall(r"Seq Scan on (\w+)", text)) - {cq.MANY_TEMP_TABLE, "t"}
    assert not scanned, text


@pytest.mark.parametrize("analyze", [True, False], ids=["analyzed", "never-analyzed"])
async def test_addresses_of_contacts_probe_the_contact_channel_index(db, analyze):
    await fill(db, analyze=analyze)
    if not analyze and not db.is_sqlite:
        await forget_statistics(db, "address")
    keys = [(f"c{i * 5}", "email") for i in range(KEYS)] + [("c1", "sms")]
    await assert_indexed(db, cq.many_addresses_sql(db.engine), *rows_arg(db.engine, keys, 2))


@pytest.mark.parametrize("analyze", [True, False], ids=["analyzed", "never-analyzed"])
async def test_lifting_suppressions_probes_the_unique_index(db, analyze):
    # Never analyzed, as during a first import: PostgreSQL then took the (reason, channel)
    # index for a look-up that names the reason, and read a whole channel per key.
    await fill(db, analyze=analyze)
    if not analyze and not db.is_sqlite:  # forget what an earlier test's ANALYZE learnt
        await forget_statistics(db, "suppression")
    keys = keys_arg(db.engine, [fake_key(i * 7) for i in range(KEYS)] + ["f" * 64])
    if db.is_sqlite:
        text = await assert_indexed(db, lift_sql(db.engine), "email", "", "unsubscribed", keys)
    else:  # EXPLAIN does not run the DELETE
        text = await assert_indexed(db, PG_LIFT_MANY, "email", "", "unsubscribed", keys,
                                    "import", datetime.now(UTC))
    assert "suppression_tenant_channel_key_topic_reason" in text \
        and "suppression_tenant_reason" not in text and "suppression_reason" not in text, text


async def forget_statistics(db, table: str) -> None:
    """PostgreSQL: the table as if never analyzed (as in a new database's first import), though
    this session's database was analyzed by earlier tests and TRUNCATE keeps what it learnt."""
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM pg_statistic WHERE starelid = CAST($1 AS regclass)", table)
        await tx.execute("UPDATE pg_class SET reltuples = -1, relpages = 0"
                         " WHERE oid = CAST($1 AS regclass)", table)


async def fill_second_tenant(db) -> None:
    """Tenant 2: a copy of fill()'s contacts, addresses, preferences and ledger events under
    ids, refs and keys of its own (the old uniques stand until migration T2)."""
    async with db.transaction() as tx:
        for sql in (
            "INSERT INTO contact (tenant_id, id, external_ref, restricted, created_at,"
            " updated_at) SELECT 2, 'z' || id, 'z' || external_ref, restricted, created_at,"
            " updated_at FROM contact WHERE tenant_id = 1",
            "INSERT INTO address (tenant_id, contact_id, channel, address_key, normalized, given,"
            " created_at) SELECT 2, 'z' || contact_id, channel, 'z' || substr(address_key, 2),"
            " normalized, given, created_at FROM address WHERE tenant_id = 1",
            "INSERT INTO preference (tenant_id, contact_id, channel, topic, status, updated_at,"
            " seq) SELECT 2, 'z' || contact_id, channel, topic, status, updated_at, seq"
            " FROM preference WHERE tenant_id = 1",
            "INSERT INTO consent_event (tenant_id, contact_id, channel, topic, action, source,"
            " occurred_at) SELECT 2, 'z' || contact_id, channel, topic, action, source,"
            " occurred_at FROM consent_event WHERE tenant_id = 1",
        ):
            await tx.execute(sql)
        if not db.is_sqlite:
            await tx.execute("ANALYZE")


async def test_with_two_tenants_every_import_look_up_probes_by_tenant(db, raw_db):
    """The import's look-ups (and the chain heads its consents are sealed after) probe the
    tenant-leading indexes with the tenant's id, for either tenant: never a tenant's rows whole,
    never another tenant's."""
    await fill(db)
    await fill_second_tenant(db)
    for view, prefix in ((db, ""), (TenantDb(raw_db, 2), "z")):
        engine = view.engine
        contacts = [f"{prefix}c{i * 5}" for i in range(KEYS)]
        keys = [("email", (prefix + fake_key(i * 3)[1:]) if prefix else fake_key(i * 3))
                for i in range(KEYS)]
        for sql, args in (
                (contacts_by_ref_sql(engine),
                 (keys_arg(engine, [f"{prefix}ref{i * 7}" for i in range(KEYS)]),)),
                (holders_sql(engine), rows_arg(engine, keys, 2)),
                (cq.many_held_sql(engine), rows_arg(engine, [(c, "email", "") for c in contacts],
                                                    3)),
                (cq.many_addresses_sql(engine),
                 rows_arg(engine, [(c, "email") for c in contacts], 2)),
                (cq.chain_heads_sql(engine), (keys_arg(engine, contacts),))):
            text = await assert_indexed(view, sql, *args)
            lines = text.splitlines()
            probes = [(line, lines[n + 1] if n + 1 < len(lines) else "")
                      for n, line in enumerate(lines)
                      if ("SEARCH" in line and "json_each" not in line) or "Index Cond" in line]
            # the tenant in the search, or (PostgreSQL may take a contact's own index: contact
            # ids are global, so that probe reads one contact's rows) compared in those rows
            assert probes and all(
                "tenant_id" in line or ("contact_id" in line and "Filter" in after
                                        and "tenant_id" in after)
                for line, after in probes), text
