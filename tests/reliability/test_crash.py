"""Crash safety: the real server, SIGKILLed at random moments under a stream of writes.

For each engine (an SQLite file; a PostgreSQL database of its own on the shared server, which
keeps running: it is the service that crashes), `python -m service serve` runs while eight
clients send, without pause:
- one-click unsubscribes (`POST /u/{token}`, tokens from `POST /v1/links`, some made during
  the run),
- suppression adds (`POST /v1/suppressions`, three addresses a request),
- preference changes (`PUT /v1/contacts/{id}/preferences`, two topics at once; each contact
  is written by one client, so the order of its writes is known),
- contact upserts (`POST /v1/contacts`) and link requests that create contacts;
and a mirror follows the suppression feed (`GET /v1/suppressions`) by cursor across restarts.
The service is killed with SIGKILL (no shutdown of any kind) KILLS times at random moments and
restarted each time. Afterwards:
- every request that got a 2xx is in the database, as the service itself answers it (checks,
  contacts, preferences API); a preference is the last acknowledged value, or the value of a
  request sent after it whose answer the crash swallowed (it may or may not have committed);
- nothing is half-written (invariants.py): state, feed and ledger agree row for row;
- the mirror, built only from the feed through the API across the crashes, equals the
  suppression table: the feed skipped nothing and repeated nothing;
- no request got anything but a 2xx or a broken connection (no 500, no "database is locked").

`RELIABILITY_SEED` replays a run (the seed is printed on failure); `RELIABILITY_KILLS` changes
the number of kills (default 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from service.db.engine import Database
from tests.reliability.invariants import duplicates, violations
from tests.reliability.procs import Service, own_pg_database, prepare

pytestmark = pytest.mark.slow
KILLS = int(os.environ.get("RELIABILITY_KILLS", "10"))
CLIENTS = 8
TOPICS = ("newsletter", "offers")
REASONS = ("hard_bounce", "manual", "complaint", "unsubscribed")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Record:
    """What the clients sent and what they were told."""

    tokens: list[str] = field(default_factory=list)  # not yet clicked
    token_address: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    clicked: set[str] = field(default_factory=set)  # acknowledged one-clicks
    suppressed: dict[str, str] = field(default_factory=dict)  # address -> reason, acknowledged
    contacts: dict[str, str] = field(default_factory=dict)  # external_ref -> address, acked
    # contact id -> topic -> [(status, acknowledged)], in the order sent
    preferences: dict[str, dict[str, list[tuple[str, bool]]]] = field(default_factory=dict)
    acked: int = 0
    cut: int = 0  # requests in flight when the service died: outcome unknown
    refused: int = 0  # connection refused while it was down: never sent
    unexpected: list[str] = field(default_factory=list)


class Workload:
    def __init__(self, base: str, headers: dict[str, str], rng: random.Random,
                 contacts: list[str]):
        self.base, self.headers, self.rng = base, headers, rng
        self.record = Record(preferences={c: {t: [] for t in TOPICS} for c in contacts})
        self.stop = asyncio.Event()
        self.counter = 0

    def fresh(self) -> int:
        self.counter += 1
        return self.counter

    async def send(self, http: httpx.AsyncClient, method: str, path: str, **kwargs):
        """The response when it is a 2xx; None when the connection broke (outcome unknown).
        Anything else is recorded as unexpected."""
        try:
            response = await http.request(method, self.base + path, **kwargs)
        except httpx.ConnectError:
            self.record.refused += 1
            await asyncio.sleep(0.02)  # the server is down: try again shortly
            return None
        except httpx.TransportError:
            self.record.cut += 1
            return None
        if not 200 <= response.status_code < 300:
            self.record.unexpected.append(f"{method} {path.split('/u/')[0]}: "
                                          f"{response.status_code} {response.text[:300]}")
            return None
        self.record.acked += 1
        return response

    # -- the operations ---------------------------------------------------------------------
    async def one_click(self, http, _client: int) -> None:
        if not self.record.tokens:
            return await self.links(http, _client)
        token = self.record.tokens.pop(self.rng.randrange(len(self.record.tokens)))
        if await self.send(http, "POST", f"/u/{token}", content="List-Unsubscribe=One-Click",
                           headers=FORM) is not None:
            self.record.clicked.add(token)
        elif self.rng.random() < 0.5:  # clicked again later (must be idempotent), or never
            self.record.tokens.append(token)  # again (what was written must be whole)

    async def links(self, http, _client: int) -> None:
        recipients = []
        for _ in range(2):
            topic = self.rng.choice((*TOPICS, None))
            recipients.append({"channel": "email", "address": f"l{self.fresh()}@example.com",
                               "topic": topic})
        response = await self.send(http, "POST", "/v1/links", headers=self.headers,
                                   json={"recipients": recipients})
        if response is not None:
            for recipient, link in zip(recipients, response.json()["links"], strict=True):
                token = link["unsubscribe_url"].rsplit("/u/", 1)[1]
                self.record.token_address[token] = (recipient["address"], recipient["topic"])
                self.record.tokens.append(token)

    async def suppress(self, http, _client: int) -> None:
        reason = self.rng.choice(REASONS)
        addresses = [f"s{self.fresh()}@example.com" for _ in range(3)]
        if await self.send(http, "POST", "/v1/suppressions", headers=self.headers, json={
                "channel": "email", "reason": reason, "source": "crash-test",
                "addresses": addresses}) is not None:
            self.record.suppressed.update(dict.fromkeys(addresses, reason))

    async def upsert(self, http, _client: int) -> None:
        n = self.fresh()
        ref, address = f"crm-{n}", f"c{n}@example.com"
        if await self.send(http, "POST", "/v1/contacts", headers=self.headers, json={
                "external_ref": ref,
                "addresses": [{"channel": "email", "address": address}]}) is not None:
            self.record.contacts[ref] = address

    async def preferences(self, http, client: int) -> None:
        mine = [c for i, c in enumerate(self.record.preferences) if i % CLIENTS == client]
        contact = self.rng.choice(mine)
        wanted = {t: self.rng.choice(("opted_in", "opted_out")) for t in TOPICS}
        response = await self.send(
            http, "PUT", f"/v1/contacts/{contact}/preferences", headers=self.headers, json={
                "preferences": [{"channel": "email", "topic": t, "status": s}
                                for t, s in wanted.items()],
                "source": "api", "wording_version": "crash-v1"})
        for topic, status in wanted.items():
            self.record.preferences[contact][topic].append((status, response is not None))

    async def client(self, index: int) -> None:
        operations = [self.one_click] * 7 + [self.suppress] * 4 + [self.preferences] * 5 + [
            self.upsert] * 2 + [self.links] * 2
        limits = httpx.Limits(max_connections=2)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            while not self.stop.is_set():
                await self.rng.choice(operations)(http, index)


class Mirror:
    """A mailer's copy of the suppression list, kept only from the feed, through the API."""

    def __init__(self, base: str, headers: dict[str, str]):
        self.base, self.headers = base, headers
        self.cursor: str | None = None
        self.seqs: list[int] = []
        self.rows: set[tuple] = set()

    async def page(self, http: httpx.AsyncClient) -> bool:
        """Read one page; True when caught up. A broken connection keeps the cursor."""
        params = {"limit": 500, **({"cursor": self.cursor} if self.cursor else {})}
        response = await http.get(self.base + "/v1/suppressions", params=params,
                                  headers=self.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        for entry in body["entries"]:
            self.seqs.append(entry["seq"])
            row = (entry["channel"], entry["address_key"], entry["topic"] or "", entry["reason"])
            if entry["op"] == "removed":
                self.rows.discard(row)
            else:
                self.rows.add(row)
        self.cursor = body["next_cursor"] or self.cursor
        return not body["entries"] and not body["has_more"]

    async def follow(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            while not stop.is_set():
                try:
                    if await self.page(http):
                        await asyncio.sleep(0.05)
                except httpx.TransportError:
                    await asyncio.sleep(0.05)


async def run_crashes(service: Service, workload: Workload, mirror: Mirror,
                      rng: random.Random) -> None:
    tasks = [asyncio.create_task(workload.client(i)) for i in range(CLIENTS)]
    mirror_stop = asyncio.Event()
    follower = asyncio.create_task(mirror.follow(mirror_stop))
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 1.8))  # a random moment under load
            service.kill()
            await asyncio.sleep(rng.uniform(0, 0.3))  # clients meet a dead port meanwhile
            await asyncio.to_thread(service.start)
        await asyncio.sleep(rng.uniform(0.3, 1.0))
    finally:
        workload.stop.set()
        mirror_stop.set()
        await asyncio.gather(*tasks, follower)


async def seed(http: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    """Topics and the contacts whose preferences the run changes; their ids."""
    for key, basis in zip(TOPICS, ("consent", "soft_opt_in"), strict=True):
        response = await http.post("/v1/topics", headers=headers, json={
            "key": key, "name": key.title(), "channels": ["email"], "legal_basis": basis,
            "transactional": False})
        assert response.status_code == 201, response.text
    ids = []
    for n in range(4 * CLIENTS):
        response = await http.post("/v1/contacts", headers=headers, json={
            "external_ref": f"pref-{n}", "addresses": [
                {"channel": "email", "address": f"p{n}@example.com"}]})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def verify(http: httpx.AsyncClient, headers: dict[str, str], record: Record,
                 db: Database) -> None:
    """Every acknowledged write is there, as the service answers it."""
    # one-click: blocked as unsubscribed on the token's topic (or the whole channel)
    by_topic: dict[str | None, list[str]] = {}
    for token in record.clicked:
        address, topic = record.token_address[token]
        by_topic.setdefault(topic, []).append(address)
    for topic, addresses in by_topic.items():
        answer = await http.post("/v1/suppressions/check", headers=headers, json={
            "channel": "email", "topic": topic, "addresses": addresses})
        assert answer.status_code == 200, answer.text
        blocked = {b["address"]: b["reasons"] for b in answer.json()["blocked"]}
        lost = [a for a in addresses if "unsubscribed" not in blocked.get(a, [])]
        assert not lost, f"acknowledged one-click unsubscribes lost ({topic}): {lost[:5]}"
    # suppressions: blocked for their reason
    addresses = list(record.suppressed)
    for start in range(0, len(addresses), 1000):
        chunk = addresses[start:start + 1000]
        answer = await http.post("/v1/suppressions/check", headers=headers, json={
            "channel": "email", "addresses": chunk})
        blocked = {b["address"]: b["reasons"] for b in answer.json()["blocked"]}
        lost = [a for a in chunk if record.suppressed[a] not in blocked.get(a, [])]
        assert not lost, f"acknowledged suppressions lost: {lost[:5]}"
    # contacts: found by external_ref, with the address
    for ref, address in record.contacts.items():
        found = await http.get("/v1/contacts", headers=headers, params={"external_ref": ref})
        assert [a["address"] for c in found.json() for a in c["addresses"]] == [address], ref
    # preferences: the last acknowledged value, or one sent after it (answer lost)
    for contact, topics in record.preferences.items():
        answer = await http.get(f"/v1/contacts/{contact}/preferences", headers=headers)
        assert answer.status_code == 200, answer.text
        state = {p["topic"]: p["status"] for p in answer.json()["preferences"]}
        for topic, sent in topics.items():
            acked = [i for i, (_, ok) in enumerate(sent) if ok]
            start = acked[-1] if acked else 0
            possible = {status for status, _ in sent[start:]}
            if not acked:
                possible.add(None)
            assert state.get(topic) in possible, (
                f"{contact}/{topic}: {state.get(topic)}, sent {sent}")
    assert await violations(db) == []
    assert await duplicates(db) == []


async def crash_run(database_url: str, folder: Path) -> None:
    seed_value = int(os.environ.get("RELIABILITY_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed_value)
    env, headers = await asyncio.to_thread(prepare, database_url, folder)
    service = Service(env, folder / "service.log")
    await asyncio.to_thread(service.start)
    db = Database(database_url, synchronous="NORMAL")
    try:
        async with httpx.AsyncClient(base_url=service.base, timeout=60) as http:
            workload = Workload(service.base, headers, rng, await seed(http, headers))
            mirror = Mirror(service.base, headers)
            await mirror.page(http)  # the mirror starts before the first write of the run
            await run_crashes(service, workload, mirror, rng)
            record = workload.record
            context = (f"seed {seed_value}: {record.acked} acknowledged, {record.cut} cut off, "
                       f"{service.starts - 1} kills\n{service.log_tail(30)}")
            assert record.unexpected == [], f"{record.unexpected[:5]} ({context})"
            assert service.starts == KILLS + 1
            assert record.clicked and record.suppressed and record.contacts, context
            assert record.cut, "no request was ever cut off: the kills missed the load"
            while not await mirror.page(http):
                pass
            print(f"{database_url.split(':')[0]}: {context.splitlines()[0]}, "
                  f"{len(record.clicked)} one-clicks, {len(record.suppressed)} suppressions, "
                  f"{len(mirror.seqs)} feed entries mirrored")
            await db.open()
            await verify(http, headers, record, db)
            table = {tuple(r) for r in await db.fetch(
                "SELECT channel, address_key, topic, reason FROM suppression")}
            assert mirror.seqs == sorted(set(mirror.seqs)), "feed out of order or repeated"
            assert mirror.rows == table, (
                f"mirror misses {list(table - mirror.rows)[:3]}, "
                f"has extra {list(mirror.rows - table)[:3]} ({context})")
    finally:
        service.stop()
        with contextlib.suppress(Exception):
            await db.close()


async def test_sqlite_survives_sigkill_under_load(tmp_path):
    await crash_run(f"sqlite:///{tmp_path / 'service.db'}", tmp_path)


async def test_postgres_survives_sigkill_under_load(tmp_path):
    with own_pg_database() as url:
        await crash_run(url, tmp_path)
