"""The bulk check applies rule 7 exactly as the single check (a seeded random mix of
frequencies, caps and sends), and retention prunes sends no window counts any more."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from service.consent.ledger import Proof
from service.consent.pace import set_pace
from service.contacts.store import ensure_contact_for_address
from service.privacy import queries as privacy_queries
from service.privacy.retention import SENDS_KEPT, run_retention
from service.sends.logic import write_sends
from service.suppression import bulk

CHECK = "/v1/suppressions/check"
TOPIC_FREQUENCIES = {"newsletter": ["weekly", "monthly"], "offers": ["daily", "weekly"]}


async def _person(db, rt, address: str) -> tuple[str, str]:
    normalized, key = rt.parse_address("email", address)
    async with db.transaction() as tx:
        contact, _ = await ensure_contact_for_address(
            tx, channel="email", normalized=normalized, address_key=key, given=address)
    return contact, key


async def build_paced_mix(db, rt, rng: random.Random, n: int) -> list[str]:
    """n people: no choice, a frequency, a cap or both, with 0-5 sends each over 40 days."""
    now = datetime.now(UTC)
    addresses = []
    for i in range(n):
        address = f"p{i}@example.com"
        contact, key = await _person(db, rt, address)
        kind = rng.choice(["none", "frequency", "cap", "both"])
        async with db.transaction() as tx:
            if kind in ("frequency", "both"):
                topic = rng.choice(list(TOPIC_FREQUENCIES))
                await set_pace(tx, contact_id=contact, channel="email", topic=topic,
                               frequency=rng.choice(TOPIC_FREQUENCIES[topic]),
                               proof=Proof(source="api"))
            if kind in ("cap", "both"):
                await set_pace(tx, contact_id=contact, channel="email", topic=None,
                               max_per_week=rng.randint(1, 3), proof=Proof(source="api"))
        for _ in range(rng.randint(0, 5)):
            when = now - timedelta(minutes=rng.randint(1, 29 * 24 * 60))
            await write_sends(db, "email", rng.choice(list(TOPIC_FREQUENCIES)), when, None,
                              [key])
        addresses.append(address)
    return addresses


async def test_bulk_equals_single_with_frequencies_caps_and_sends(client, db, rt, topics,
                                                                   mailer, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 17)
    addresses = await build_paced_mix(db, rt, random.Random(20261207), 60)
    blocked_somewhere = 0
    for topic in (None, "newsletter", "offers", "account"):
        response = await client.post(CHECK, headers=mailer, json={
            "channel": "email", "topic": topic, "addresses": addresses})
        assert response.status_code == 200, response.text
        blocked = {b["address"]: b for b in response.json()["blocked"]}
        for address in addresses:
            params = {"channel": "email", "address": address, **({"topic": topic} if topic
                                                                 else {})}
            one = (await client.get(CHECK, headers=mailer, params=params)).json()
            many = blocked.get(address, {"reasons": [], "next_allowed_at": None})
            assert one["reasons"] == many["reasons"], (address, topic)
            assert one["next_allowed_at"] == many.get("next_allowed_at"), (address, topic)
            blocked_somewhere += "frequency" in one["reasons"]
    assert blocked_somewhere > 10  # the mix exercises the rule


async def test_retention_prunes_sends_older_than_every_window(db, rt, settings, topics):
    now = datetime.now(UTC)
    _, key = await _person(db, rt, "old@example.com")
    old = now - SENDS_KEPT - timedelta(minutes=1)
    kept = now - SENDS_KEPT + timedelta(minutes=1)
    await write_sends(db, "email", "newsletter", old, "a", [key, "0" * 64])
    await write_sends(db, "email", "newsletter", kept, "b", [key])
    dry = await run_retention(db, settings, now=now, dry_run=True)
    assert dry.sends_deleted == 2
    assert await db.fetchval("SELECT COUNT(*) FROM send_log") == 3
    counts = await run_retention(db, settings, now=now)
    assert counts.sends_deleted == 2
    rows = await db.fetch("SELECT campaign FROM send_log")
    assert [r["campaign"] for r in rows] == ["b"]


async def test_retention_walks_the_sends_a_window_at_a_time(db, rt, settings, topics,
                                                            monkeypatch):
    """send_log has no index on sent_at: on SQLite retention deletes by windows of rowids,
    old and kept sends interleaved across the windows, and reaches the last one."""
    monkeypatch.setattr(privacy_queries, "SENDS_WINDOW", 2)
    now = datetime.now(UTC)
    old = now - SENDS_KEPT - timedelta(hours=1)
    kept = now - timedelta(days=1)
    keys = [rt.parse_address("email", f"w{i}@example.com")[1] for i in range(7)]
    for i, key in enumerate(keys):
        await write_sends(db, "email", "offers", old if i % 3 else kept, str(i), [key])
    counts = await run_retention(db, settings, now=now)
    assert counts.sends_deleted == 4
    rows = await db.fetch("SELECT campaign FROM send_log ORDER BY campaign")
    assert [r["campaign"] for r in rows] == ["0", "3", "6"]
