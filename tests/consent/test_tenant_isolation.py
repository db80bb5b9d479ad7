"""Tenants (issue 18): one tenant's preferences, paces, ledger events and checkpoints are
invisible to, and left alone by, another tenant's preferences API, ledger view, bulk writes,
`ledger verify` and checkpoints, on both engines. Chains stay per contact and their content as
it was (decision D7); a checkpoint covers its tenant's chains, and only another tenant's digest
names the tenant. Until migration T2 the two tenants use different addresses."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from service.consent import chain
from service.consent.ledger import Proof
from service.consent.logic import Change, events_page, preferences_of, save_changes
from service.consent.many import Change as BulkChange
from service.consent.many import held_preferences, set_preferences
from service.consent.verify import latest_checkpoint, verify, write_checkpoint
from service.contacts.store import ensure_contact_for_address
from service.db.tenant_db import TenantDb
from service.errors import NotFound

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PROOF = Proof(source="api", ip="192.0.2.7")
CHANGES = [Change("email", None, "opt_in"), Change("email", None, "frequency", pace=2),
           Change("email", None, "paused", NOW + timedelta(days=30))]


async def person(db, key: str) -> str:
    async with db.transaction() as tx:
        contact_id, _ = await ensure_contact_for_address(
            tx, channel="email", normalized=f"{key}@example.com", address_key=key,
            given=f"{key}@example.com")
    return contact_id


async def rows_of(raw_db, tenant_id: int) -> list[tuple]:
    """What the consent capability holds of a tenant, every column that matters."""
    found = []
    for sql in ("SELECT contact_id, channel, topic, status, paused_until, max_per_week, seq"
                " FROM preference WHERE tenant_id = $1 ORDER BY contact_id, channel, topic",
                "SELECT id, contact_id, action, hash FROM consent_event WHERE tenant_id = $1"
                " ORDER BY id",
                "SELECT seq, contact_id, value FROM change_feed WHERE tenant_id = $1"
                " AND kind = 'preference' ORDER BY seq",
                "SELECT id, digest FROM ledger_checkpoint WHERE tenant_id = $1 ORDER BY id"):
        found.append([tuple(r) for r in await raw_db.fetch(sql, tenant_id)])
    return found


@pytest.fixture
async def two(db, raw_db) -> tuple[TenantDb, str, str]:
    """Ann in tenant 1 and Bea in tenant 2, each with the same changes through the API's
    logic (an opt-in, a weekly cap, a pause)."""
    other = TenantDb(raw_db, 2)
    ann, bea = await person(db, "ann"), await person(other, "bea")
    for view, contact_id in ((db, ann), (other, bea)):
        changed, _ = await save_changes(view, contact_id, CHANGES, PROOF, NOW)
        assert changed == 3
    return other, ann, bea


async def test_preferences_and_ledger_of_another_tenant_are_not_seen_nor_changed(
        two, db, raw_db):
    other, ann, bea = two
    theirs = await rows_of(raw_db, 2)
    assert len(theirs[1]) == 3 and len(theirs[2]) == 3  # three events, three feed rows

    assert await preferences_of(db, bea) == []
    assert await preferences_of(other, ann) == []
    assert [p["max_per_week"] for p in await preferences_of(other, bea)] == [2]
    with pytest.raises(NotFound):
        await events_page(db, bea, None, 10)
    with pytest.raises(NotFound):
        await save_changes(db, bea, [Change("email", None, "opt_out")], PROOF, NOW)
    events, _ = await events_page(other, bea, None, 10)
    assert [e["action"] for e in events] == ["paused", "frequency", "opt_in"]

    # bulk writes (the import's, a COPY and one statement on PostgreSQL) in tenant 1 only
    async with db.transaction() as tx:
        assert await held_preferences(tx, {(bea, "email", "")}) == {}
        await set_preferences(tx, [BulkChange(ann, "email", "news", "opt_in", PROOF),
                                   BulkChange(ann, "email", "", "opt_out", PROOF)], now=NOW)
    assert await rows_of(raw_db, 2) == theirs
    ours = await rows_of(raw_db, 1)
    assert [p[2:4] for p in ours[0]] == [("", "opted_out"), ("news", "opted_in")]
    assert {e[1] for e in ours[1]} == {ann}

    # and in tenant 2: its preference goes on from its own state, tenant 1's is unchanged
    async with other.transaction() as tx:
        await set_preferences(tx, [BulkChange(bea, "email", "", "opt_out", PROOF)], now=NOW)
    assert await rows_of(raw_db, 1) == ours
    assert [(p["status"], p["max_per_week"]) for p in await preferences_of(other, bea)] == [
        ("opted_out", 2)]


async def test_each_tenant_verifies_and_checkpoints_its_own_chains(two, db, raw_db):
    other, ann, bea = two
    mine = await write_checkpoint(db)
    theirs = await write_checkpoint(other)
    assert (mine.chains, mine.events, theirs.chains, theirs.events) == (1, 3, 1, 3)
    heads = {r[0]: r[1] for r in await raw_db.fetch(
        "SELECT contact_id, hash FROM consent_event e WHERE id = (SELECT MAX(id)"
        " FROM consent_event WHERE contact_id = e.contact_id)")}
    # the default tenant's digest is what it was before tenants: old checkpoints verify
    assert mine.digest == hashlib.sha256(chain.head_line(ann, heads[ann])).hexdigest()
    assert theirs.digest == hashlib.sha256(
        b"tenant 2\n" + chain.head_line(bea, heads[bea])).hexdigest()
    assert (await latest_checkpoint(db)).id == mine.id
    assert (await latest_checkpoint(other)).id == theirs.id

    # tenant 2 writes on; tenant 1's ledger and checkpoint are unaffected
    await save_changes(other, bea, [Change("email", None, "opt_out")], PROOF, NOW)
    report = await verify(db)
    assert (report.mismatch, report.events, report.chains) == (None, 3, 1)
    assert report.checkpoint.id == mine.id
    assert (await verify(db, bea)).events == 0  # another tenant's chain is not there
    report = await verify(other)
    assert (report.mismatch, report.events, report.checkpoint.id) == (None, 4, theirs.id)

    # an edit of tenant 2's ledger is tenant 2's mismatch only
    await raw_db.execute("UPDATE consent_event SET ip = '203.0.113.9' WHERE contact_id = $1",
                         bea)
    assert (await verify(db)).mismatch is None
    assert (await verify(other)).mismatch.what == "content"
