"""A snapshot import's statements probe indexes on both engines: the lift walks one list's
suppressions and probes the snapshot's keys per row (never reading the whole snapshot per
page, which would make a 20-million-number TPS import quadratic), and noting keys probes the
unique index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.db.keys import keys_arg
from service.suppression import queries as q
from tests.db.plans import assert_indexed, fake_key, fill

N = 10_000


@pytest.fixture
async def listed(db):
    await fill(db, analyze=False)
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
            " created_at, seq) VALUES ('phone', $1, '', 'external_list', 'import', $2, $3, 0)",
            [(fake_key(i), "TPS" if i % 4 else "CTPS", now) for i in range(N)])
        await tx.executemany(
            "INSERT INTO external_list_key (list_name, address_key) VALUES ('TPS', $1)",
            [(fake_key(i),) for i in range(0, N, 2)])
        if not db.is_sqlite:
            await tx.execute("ANALYZE")
    return db


async def test_the_lift_walks_one_list_and_probes_the_snapshot(listed):
    text = await assert_indexed(listed, q.gone_page_sql(listed.engine), "phone", "TPS", 0, 500)
    assert "external_list_key_tenant_list_key" in text, text
    if listed.is_sqlite:  # the list alone, in id order (not every list of the channel)
        assert "suppression_tenant_list_name (tenant_id=? AND list_name=? AND id>?)" in text, text


async def test_noting_keys_and_forgetting_them_probe_indexes(listed):
    keys = keys_arg(listed.engine, [fake_key(i) for i in (1, 2, 3)])
    await assert_indexed(listed, q.stage_keys_sql(listed.engine), "TPS", keys)
    text = await assert_indexed(listed, q.unstage_sql(listed.engine), "TPS", 0, 500)
    if listed.is_sqlite:  # the slice deleted by id, not found by reading the tenant's keys
        assert "INTEGER PRIMARY KEY (rowid=?)" in text, text
