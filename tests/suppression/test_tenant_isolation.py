"""One tenant's suppressions, checks, change feed and national lists (issue 18): another
tenant's rows are invisible to them and untouched by them, both ways, on both engines.

Until migration T2 drops the old uniques, two tenants cannot hold the same (channel, key, topic,
reason): the address both tenants suppress here is suppressed for a different reason in each.
Tenant 1 is the app's (the API); tenant 2 is reached through its database view."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import pytest

from service import cursors
from service.consent.decision import lookup_state
from service.db.tenant_db import TenantDb
from service.errors import InputError
from service.suppression import feed, lists
from service.suppression import queries as q
from service.suppression.bulk import fetch_rows
from service.suppression.store import (
    add_suppression,
    add_suppressions,
    remove_suppression,
    remove_suppressions,
)
from tests.conftest import follow_feed
from tests.test_tenant_scoping import NOT_YET_SCOPED

CHECK = "/v1/suppressions/check"
ANN, BOB, CY = "ann@example.com", "bob@example.com", "cy@example.com"


@pytest.fixture
def other(raw_db) -> TenantDb:
    return TenantDb(raw_db, 2)


async def read_feed(view: TenantDb, cursor: str | None = None) -> dict:
    return json.loads(await feed.read_page(view, cursor=cursor, channel=None, reason=None,
                                           topic=None, since=None, limit=100))


async def reasons(client, headers, address: str) -> list[str]:
    response = await client.get(CHECK, params={"channel": "email", "address": address},
                                headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["reasons"]


async def test_each_tenant_checks_and_lifts_only_its_own_suppressions(
        client, world, reader, db, other):
    ann, bob, cy = (world.key("email", a) for a in (ANN, BOB, CY))
    await world.contact(ANN)  # tenant 1's contact holds ann's address
    await world.suppress(ANN, "complaint")
    async with other.transaction() as tx:
        assert await add_suppression(tx, channel="email", address_key=bob, reason="manual",
                                     source="test")
        added = await add_suppressions(tx, channel="email", address_keys=[cy, ann],
                                       reason="hard_bounce", source="test")
    assert sorted(added) == sorted([cy, ann])
    # tenant 2's suppression of ann's address names no contact: the contact is tenant 1's
    assert await db.raw.fetchval("SELECT contact_id FROM suppression WHERE tenant_id = 2"
                                 " AND address_key = $1", ann) is None

    # tenant 1: the single and the bulk check see its own suppressions only
    assert await reasons(client, reader, ANN) == ["complaint"]
    assert await reasons(client, reader, BOB) == []
    bulk = (await client.post(CHECK, headers=reader, json={
        "channel": "email", "addresses": [ANN, BOB, CY]})).json()
    assert [(b["address"], b["reasons"]) for b in bulk["blocked"]] == [(ANN, ["complaint"])]
    assert {k: [r[:3] for r in rows] for k, rows in
            (await fetch_rows(db, "email", [ann, bob, cy])).items()} == {
        ann: [("s", "", "complaint")]}
    # tenant 2: its own, and nothing of tenant 1's (not even the contact holding ann)
    state = await lookup_state(other, "email", ann)
    assert state.suppressions == [("", "hard_bounce")] and not state.preferences
    assert {k: [r[:3] for r in rows] for k, rows in
            (await fetch_rows(other, "email", [ann, bob, cy])).items()} == {
        ann: [("s", "", "hard_bounce")], bob: [("s", "", "manual")],
        cy: [("s", "", "hard_bounce")]}

    # lifting in one tenant never lifts the other's
    async with db.transaction() as tx:
        assert not await remove_suppression(tx, channel="email", address_key=bob,
                                            reason="manual", source="test")
        assert await remove_suppressions(tx, channel="email", address_keys=[ann, cy],
                                         reason="hard_bounce", source="test") == []
    async with other.transaction() as tx:
        assert await remove_suppressions(tx, channel="email", address_keys=[ann],
                                         reason="complaint", source="test") == []
    assert await reasons(client, reader, ANN) == ["complaint"]
    assert len(await fetch_rows(other, "email", [ann, bob, cy])) == 3
    # the export counts a tenant's own rows
    for view, count in ((db, 1), (other, 3)):
        assert await view.fetchval(q.export_count_sql(None, None, [])) == count


async def test_each_tenant_follows_its_own_feed_and_cursor(client, world, reader, db, other):
    await world.suppress(ANN, "complaint")
    async with other.transaction() as tx:
        await add_suppressions(tx, channel="email", address_keys=[world.key("email", BOB)],
                               reason="manual", source="test")
    mine, cursor = await follow_feed(client, reader)
    assert [(e["address_key"], e["reason"]) for e in mine] == [
        (world.key("email", ANN), "complaint")]
    theirs = await read_feed(other)
    assert [(e["address_key"], e["reason"]) for e in theirs["entries"]] == [
        (world.key("email", BOB), "manual")]
    # more changes in tenant 2: none reach tenant 1's cursor, and tenant 2 sees its own
    async with other.transaction() as tx:
        await remove_suppressions(tx, channel="email", address_keys=[world.key("email", BOB)],
                                  reason="manual", source="test")
        await add_suppressions(tx, channel="email", address_keys=[world.key("email", CY)],
                               reason="manual", source="test")
    later, _ = await follow_feed(client, reader, cursor=cursor)
    assert later == []
    after = await read_feed(other, theirs["next_cursor"])
    assert [(e["op"], e["address_key"]) for e in after["entries"]] == [
        ("removed", world.key("email", BOB)), ("added", world.key("email", CY))]

    # a cursor is its tenant's: tenant 2's is refused by tenant 1 and the other way round
    response = await client.get("/v1/suppressions", params={"cursor": after["next_cursor"]},
                                headers=reader)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.cursor"
    with pytest.raises(InputError) as refused:
        await read_feed(other, cursor)
    assert refused.value.status == 422 and refused.value.field == "query.cursor"


@pytest.mark.skipif("consent.queries" in NOT_YET_SCOPED, reason=(
    "one suppression's feed row is written by consent.ledger.record_change (consent.queries,"
    " converted separately): until then it lands in the default tenant's feed"))
async def test_one_suppression_added_and_lifted_is_in_its_tenants_feed(client, world, reader,
                                                                       other):
    key = world.key("email", BOB)
    _, mine = await follow_feed(client, reader)
    start = await read_feed(other)
    async with other.transaction() as tx:
        await add_suppression(tx, channel="email", address_key=key, reason="manual",
                              source="test")
        await remove_suppression(tx, channel="email", address_key=key, reason="manual",
                                 source="test")
    assert (await follow_feed(client, reader, cursor=mine))[0] == []
    page = await read_feed(other, start["next_cursor"])
    assert [(e["op"], e["address_key"]) for e in page["entries"]] == [
        ("added", key), ("removed", key)]


async def test_each_tenant_has_its_own_national_lists(db, other):
    await lists.record_list(other, name="TPS", channel="phone", as_of=date(2026, 11, 30))
    assert await lists.all_lists(db, {}) == []
    assert [x.name for x in await lists.all_lists(other, {})] == ["TPS"]
    await lists.record_list(db, name="DNC", channel="phone", as_of=datetime.now(UTC).date())
    assert [x.name for x in await lists.all_lists(db, {})] == ["DNC"]
    assert [x.name for x in await lists.all_lists(other, {})] == ["TPS"]


def test_a_cursor_names_its_tenant_unless_the_default():
    position = b'{"phase":"f","after":42}'
    mine = cursors.encode_cursor(position)
    assert mine == base64.urlsafe_b64encode(position).decode().rstrip("=")  # as before tenants
    theirs = cursors.encode_cursor(position, 7)
    assert theirs != mine

    def parse(raw: bytes) -> bytes:
        return raw

    assert cursors.decode_cursor(mine, "cursor", parse) == position
    assert cursors.decode_cursor(theirs, "cursor", parse, 7) == position
    for text, tenant in ((theirs, 1), (mine, 7), (theirs, 8)):
        with pytest.raises(InputError) as refused:
            cursors.decode_cursor(text, "cursor", parse, tenant)
        assert refused.value.message == cursors.NOT_YOURS
    broken = base64.urlsafe_b64encode(cursors.TENANT_MARK + b"x" + position).decode()
    with pytest.raises(InputError) as refused:
        cursors.decode_cursor(broken, "cursor", parse, 7)
    assert refused.value.message == cursors.NOT_OURS
