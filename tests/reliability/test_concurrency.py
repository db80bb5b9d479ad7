"""Concurrency on both engines: hundreds of simultaneous one-click POSTs, contact upserts and
preference writes, on the same and on different contacts, sent over real HTTP to two service
apps at once (two apps = two processes' worth of connections: on SQLite two writers competing
for the file lock, on PostgreSQL two pools).

Nothing may answer 5xx or log "database is locked"; nothing is duplicated; no update is lost
(the final state is the last write of each key, and writes to different keys of one contact
all survive); and the ledger holds exactly one event per real change, no more (invariants.py
checks state, feed and ledger row for row). tests/unsubscribe/test_concurrency.py covers 200
identical one-clicks on one token; this extends it to many tokens, contacts and kinds of write.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter

import httpx
import pytest

from service.app import create_app
from service.security.tokens import ALL_TOPICS, TokenData
from tests.conftest import make_settings
from tests.reliability.invariants import duplicates, violations
from tests.unsubscribe.helpers import ONE_CLICK_BODY, add_address, add_contact, add_topic
from tests.unsubscribe.servers import serve

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOPICS = [f"t{i}" for i in range(6)]


@pytest.fixture
def urls(database_url, tmp_path, client):
    """Two apps on the test's database, each serving on a free port."""
    apps = [create_app(make_settings(database_url, tmp_path / f"app{i}")) for i in range(2)]
    with serve(*apps) as base_urls:
        yield base_urls


@pytest.fixture
def locked_log(caplog):
    """Log records of every thread (the servers run in threads), checked for lock errors."""
    caplog.set_level(logging.INFO)
    yield caplog
    records = caplog.get_records("call")  # the servers' threads log here too
    locked = [r.getMessage() for r in records if "locked" in r.getMessage().lower()]
    assert locked == [], locked[:3]


async def gather(requests) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        responses = await asyncio.gather(*(request(http) for request in requests))
    for response in responses:
        assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
        assert "locked" not in response.text
    return responses


async def seed_topics(db) -> None:
    for key in TOPICS:
        await add_topic(db, key, key.upper(), legal_basis="consent")


async def test_one_click_storm_on_many_contacts_and_tokens(urls, db, rt, locked_log):
    """300 one-click POSTs: 60 tokens (whole channel and single topics, some contacts with two
    addresses), each clicked five times, all at once across both apps."""
    await seed_topics(db)
    tokens, addresses = [], {}
    for n in range(15):
        contact, _ = await add_contact(db, rt, "email", f"click{n}@example.com")
        addresses[contact] = 1
        if n % 4 == 0:
            await add_address(db, rt, contact, "email", f"click{n}.other@example.com")
            addresses[contact] = 2
        for topic in (ALL_TOPICS, *TOPICS[:3]):
            tokens.append((contact, topic, rt.signer.sign(
                "unsubscribe", TokenData(contact, "email", topic, "storm"))))
    clicks = [t for t in tokens for _ in range(5)]
    random.Random(7).shuffle(clicks)
    responses = await gather(
        (lambda http, i=i, token=token: http.post(f"{urls[i % 2]}/u/{token}",
                                                  content=ONE_CLICK_BODY, headers=FORM))
        for i, (_, _, token) in enumerate(clicks))
    assert [r.status_code for r in responses] == [200] * len(clicks)

    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == len(tokens)
    assert await db.fetchval("SELECT COUNT(*) FROM preference WHERE status = 'opted_out'") \
        == len(tokens)
    # one `unsubscribed` suppression per address and token topic
    expected = sum(addresses[contact] for contact, _, _ in tokens)
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == expected
    assert await db.fetchval("SELECT COUNT(*) FROM change_feed") == len(tokens) + expected
    assert await violations(db) == []
    assert await duplicates(db) == []


async def test_contact_upserts_same_and_different_keys(urls, db, admin_headers, locked_log):
    """220 concurrent POST /v1/contacts: one external_ref with 60 addresses, one address 60
    times, 25 distinct contacts each sent twice, two external_refs racing for one address."""
    bodies: list[tuple[str, dict]] = []
    bodies += [("same-ref", {"external_ref": "crm-same", "addresses": [
        {"channel": "email", "address": f"same{i}@example.com"}]}) for i in range(60)]
    bodies += [("same-address", {"addresses": [
        {"channel": "email", "address": "Shared@Example.com"}]}) for _ in range(60)]
    bodies += [(f"pair{i}", {"external_ref": f"crm-pair-{i}", "addresses": [
        {"channel": "email", "address": f"pair{i}@example.com"},
        {"channel": "sms", "address": f"+44 7911 123{i:03d}"}]}) for i in range(25) for _ in
        range(2)]
    bodies += [("contested", {"external_ref": f"crm-rival-{i % 2}", "addresses": [
        {"channel": "email", "address": "contested@example.com"}]}) for i in range(50)]
    random.Random(11).shuffle(bodies)
    responses = await gather(
        (lambda http, i=i, body=body: http.post(f"{urls[i % 2]}/v1/contacts",
                                                headers=admin_headers, json=body))
        for i, (_, body) in enumerate(bodies))

    by_group: dict[str, Counter] = {}
    for (group, _), response in zip(bodies, responses, strict=True):
        by_group.setdefault(group, Counter())[response.status_code] += 1
        if response.status_code in (200, 201):
            assert response.json()["id"]
    assert by_group["same-ref"] == Counter({201: 1, 200: 59})
    assert by_group["same-address"] == Counter({201: 1, 200: 59})
    for i in range(25):
        assert by_group[f"pair{i}"] == Counter({201: 1, 200: 1})
    # the first rival creates the contact; its twins match it, the other rival is refused
    assert by_group["contested"][201] == 1
    assert by_group["contested"][200] == 24 and by_group["contested"][409] == 25

    same = await db.fetch("SELECT a.normalized FROM contact c JOIN address a"
                          " ON a.contact_id = c.id WHERE c.external_ref = 'crm-same'")
    assert sorted(r[0] for r in same) == sorted(f"same{i}@example.com" for i in range(60))
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 1 + 1 + 25 + 1
    assert await db.fetchval("SELECT COUNT(*) FROM address") == 60 + 1 + 50 + 1
    assert await violations(db) == []
    assert await duplicates(db) == []


async def test_preference_writes_no_lost_update(urls, db, rt, admin_headers, locked_log):
    """Three patterns at once, 284 PUTs in all:
    - 18 chains of 8 writes, each chain one (contact, topic) written one request after the
      other, the chains concurrent: the final state of each key is its chain's last write;
    - 60 writes to six topics of one contact, ten identical ones per topic, concurrently:
      every topic ends opted in (none lost) with one ledger event each (none doubled);
    - 80 conflicting writes to one key at once: the ledger alternates, one event per
      request that reported a change, and the state is the last event."""
    await seed_topics(db)
    contacts = [(await add_contact(db, rt, "email", f"pref{n}@example.com"))[0]
                for n in range(6)]
    rng = random.Random(5)
    reported: Counter = Counter()  # (contact, topic) -> sum of `changed` in the answers

    async def put(http, i: int, contact: str, topic: str, status: str) -> httpx.Response:
        response = await http.put(
            f"{urls[i % 2]}/v1/contacts/{contact}/preferences", headers=admin_headers,
            json={"preferences": [{"channel": "email", "topic": topic, "status": status}],
                  "source": "api", "wording_version": "concurrency-v1"})
        assert response.status_code == 200, response.text
        body = response.json()
        reported[(contact, topic)] += body["changed"]
        # its own write is what its transaction saw: nothing slipped in between
        assert {p["topic"]: p["status"] for p in body["preferences"]}[topic] == status
        return response

    chains = {(contact, topic): [rng.choice(("opted_in", "opted_out")) for _ in range(8)]
              for contact in contacts[:3] for topic in TOPICS}

    async def chain(http, key) -> httpx.Response:
        response = None
        for i, status in enumerate(chains[key]):
            response = await put(http, i, *key, status)
        return response

    same_contact = [(contacts[4], topic) for topic in TOPICS for _ in range(10)]
    rng.shuffle(same_contact)
    conflicting = [rng.choice(("opted_in", "opted_out")) for _ in range(80)]
    requests = [(lambda http, key=key: chain(http, key)) for key in chains]
    requests += [(lambda http, i=i, key=key: put(http, i, *key, "opted_in"))
                 for i, key in enumerate(same_contact)]
    requests += [(lambda http, i=i, s=s: put(http, i, contacts[5], "t0", s))
                 for i, s in enumerate(conflicting)]
    rng.shuffle(requests)
    await gather(requests)

    state = {(r["contact_id"], r["topic"]): r["status"] for r in await db.fetch(
        "SELECT contact_id, topic, status FROM preference")}
    events = Counter((r["contact_id"], r["topic"]) for r in await db.fetch(
        "SELECT contact_id, topic FROM consent_event"))
    for key, statuses in chains.items():
        assert state[key] == statuses[-1], f"{key}: lost update"
        changes = sum(1 for prev, now in zip([None, *statuses], statuses, strict=False)
                      if prev != now)
        assert events[key] == changes == reported[key], key
    for topic in TOPICS:
        assert state[(contacts[4], topic)] == "opted_in"
        assert events[(contacts[4], topic)] == reported[(contacts[4], topic)] == 1
    hot = (contacts[5], "t0")
    assert events[hot] == reported[hot] >= 1
    assert await violations(db) == []  # alternation, state = last event, feed = ledger
    assert await duplicates(db) == []


async def test_one_clicks_and_api_writes_on_the_same_contacts(urls, db, rt, admin_headers,
                                                              locked_log):
    """One-click unsubscribes racing preference PUTs, suppression adds and upserts that touch
    the same contacts and addresses: every write is whole, whatever the interleaving."""
    await seed_topics(db)
    people = []
    for n in range(10):
        contact, _ = await add_contact(db, rt, "email", f"mixed{n}@example.com")
        token = rt.signer.sign("unsubscribe", TokenData(contact, "email", "t0", ""))
        people.append((n, contact, token))
    requests = []
    for n, contact, token in people:
        for i in range(6):
            requests.append(lambda http, i=i, token=token: http.post(
                f"{urls[i % 2]}/u/{token}", content=ONE_CLICK_BODY, headers=FORM))
            requests.append(lambda http, i=i, contact=contact: http.put(
                f"{urls[i % 2]}/v1/contacts/{contact}/preferences", headers=admin_headers,
                json={"preferences": [
                    {"channel": "email", "topic": "t0", "status": "opted_in"},
                    {"channel": "email", "topic": "t1", "status": "opted_in"}]}))
            requests.append(lambda http, i=i, n=n: http.post(
                f"{urls[i % 2]}/v1/suppressions", headers=admin_headers, json={
                    "channel": "email", "reason": "manual", "source": "crm",
                    "addresses": [f"mixed{n}@example.com", f"other{n}@example.com"]}))
            requests.append(lambda http, i=i, n=n: http.post(
                f"{urls[i % 2]}/v1/contacts", headers=admin_headers, json={
                    "external_ref": f"crm-mixed-{n}", "addresses": [
                        {"channel": "email", "address": f"mixed{n}@example.com"}]}))
    random.Random(3).shuffle(requests)
    responses = await gather(requests)
    assert {r.status_code for r in responses} <= {200, 201}

    for n, contact, _ in people:
        # the last choice (one-click or PUT) holds for the preference and the suppression alike
        status = await db.fetchval("SELECT status FROM preference WHERE contact_id = $1"
                                   " AND channel = 'email' AND topic = 't0'", contact)
        assert await db.fetchval(
            "SELECT COUNT(*) FROM suppression WHERE contact_id = $1 AND topic = 't0'"
            " AND reason = 'unsubscribed'", contact) == (status == "opted_out")
        assert await db.fetchval("SELECT external_ref FROM contact WHERE id = $1",
                                 contact) == f"crm-mixed-{n}"
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE reason = 'manual'") == 20
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 10
    assert await violations(db) == []
    assert await duplicates(db) == []
