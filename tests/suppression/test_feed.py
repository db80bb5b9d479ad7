"""`GET /v1/suppressions`: snapshot then change feed, filters, and exactly-once delivery while
writers keep writing."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from service.suppression.feed import decode_cursor
from service.suppression.store import add_suppression, remove_suppression
from tests.conftest import feed_page as page
from tests.conftest import follow_feed as follow

LIST = "/v1/suppressions"


async def test_snapshot_then_changes_with_next_cursor(client, world, reader):
    await world.suppress("ann@example.com", "hard_bounce")
    await world.suppress("bob@example.com", "unsubscribed", topic="offers")
    await world.suppress("cy@example.com", "complaint")
    async with world.db.transaction() as tx:  # removed before the listing: not in the snapshot
        await remove_suppression(tx, channel="email", address_key=world.key(
            "email", "cy@example.com"), reason="complaint", source="test")
    first = await page(client, reader, limit=1)
    assert first["has_more"] is True
    assert first["entries"][0]["address_key"] == world.key("email", "ann@example.com")
    rest, cursor = await follow(client, reader, cursor=first["next_cursor"], limit=1)
    entries = first["entries"] + rest
    assert [(e["op"], e["reason"], e["topic"]) for e in entries] == [
        ("added", "hard_bounce", None), ("added", "unsubscribed", "offers")]
    entry = entries[0]
    assert set(entry) == {"seq", "op", "channel", "address_key", "topic", "reason", "source",
                          "list_name", "time"}
    assert "example.com" not in str(entries)  # address keys only
    # caught up: the same cursor later brings the new changes, removals included
    await world.suppress("dee@example.com", "manual")
    async with world.db.transaction() as tx:
        await remove_suppression(tx, channel="email", address_key=world.key(
            "email", "ann@example.com"), reason="hard_bounce", source="test")
    later, _ = await follow(client, reader, cursor=cursor)
    assert [(e["op"], e["reason"]) for e in later] == [("added", "manual"),
                                                       ("removed", "hard_bounce")]
    assert later[0]["seq"] < later[1]["seq"]


async def test_filters_and_since(client, world, reader):
    await world.suppress("ann@example.com", "hard_bounce")
    await world.suppress("+442079460958", "external_list", channel="phone")
    await world.suppress("bob@example.com", "unsubscribed", topic="offers")
    phone, _ = await follow(client, reader, channel="phone")
    assert [e["channel"] for e in phone] == ["phone"]
    bounces, _ = await follow(client, reader, reason="hard_bounce")
    assert [e["reason"] for e in bounces] == ["hard_bounce"]
    offers, _ = await follow(client, reader, topic="offers")
    assert [e["topic"] for e in offers] == ["offers"]
    whole, _ = await follow(client, reader, topic="")
    assert {e["topic"] for e in whole} == {None}
    recent, _ = await follow(client, reader,
                             since=(datetime.now(UTC) - timedelta(minutes=5)).isoformat())
    assert len(recent) == 3
    future, _ = await follow(client, reader,
                             since=(datetime.now(UTC) + timedelta(minutes=5)).isoformat())
    assert future == []


async def test_bad_cursor_and_changed_filters_are_422(client, world, reader):
    bad = await client.get(LIST, params={"cursor": "garbage!"}, headers=reader)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"
    cursor = (await page(client, reader, channel="email"))["next_cursor"]
    changed = await client.get(LIST, params={"cursor": cursor, "channel": "sms"},
                               headers=reader)
    assert changed.status_code == 422
    too_many = await client.get(LIST, params={"limit": 100_000}, headers=reader)
    assert too_many.status_code == 422


async def test_every_change_exactly_once_while_writes_go_on(client, world, reader, db):
    keys = [world.key("email", f"user{i}@example.com") for i in range(40)]
    for key in keys[:10]:
        async with db.transaction() as tx:
            await add_suppression(tx, channel="email", address_key=key, reason="manual",
                                  source="test")

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            key = rng.choice(keys)
            reason = rng.choice(["manual", "hard_bounce"])
            async with db.transaction() as tx:
                if rng.random() < 0.6:
                    await add_suppression(tx, channel="email", address_key=key, reason=reason,
                                          source=f"w{seed}")
                else:
                    await remove_suppression(tx, channel="email", address_key=key,
                                             reason=reason, source=f"w{seed}")
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(seed)) for seed in range(4)]
    first = await page(client, reader, limit=5)
    high = decode_cursor(first["next_cursor"]).high  # the snapshot's high-water mark
    seen, cursor = first["entries"], first["next_cursor"]
    while not all(w.done() for w in writers):
        body = await page(client, reader, cursor=cursor, limit=5)
        seen += body["entries"]
        cursor = body["next_cursor"]
        await asyncio.sleep(0.005)
    await asyncio.gather(*writers)
    rest, _ = await follow(client, reader, cursor=cursor, limit=5)
    seen += rest

    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(set(seqs)), "in order, no duplicates"
    assert all(e["op"] == "added" for e in seen if e["seq"] <= high)
    changes = await db.fetch(
        "SELECT seq FROM change_feed WHERE kind = 'suppression' AND seq > $1 ORDER BY seq", high)
    assert len(changes) > 20
    assert [s for s in seqs if s > high] == [r["seq"] for r in changes], "no change missed"
    mirror: set = set()
    for entry in seen:
        item = (entry["address_key"], entry["reason"])
        if entry["op"] == "added":
            assert item not in mirror, "an add the mirror already had"
            mirror.add(item)
        else:  # may remove what was added and removed before the snapshot reached it
            mirror.discard(item)
    rows = await db.fetch("SELECT address_key, reason FROM suppression")
    assert mirror == {(r["address_key"], r["reason"]) for r in rows}
