"""Database outage, against the real server (`python -m service serve`).

PostgreSQL: a private server of this module (initdb on a free port; the shared one on 5432 is
never touched), reached through a TCP proxy (proxy.py) so that the network can fail too.
- Stopped (pg_ctl stop, immediate and fast): every write answers 503, never 200, and writes
  nothing; every check answers 503, never "allowed"; `/readyz` fails, `/healthz` stays up.
  Started again: the very first request succeeds and everything works, without restarting
  the service; the background loops (outbox) carry on too.
- Partitioned while the server restarts: the pool's connections are dead but the service
  cannot know until it uses them. The first requests after the network heals must not fail
  on them (they did: service/db/engine.py now replaces dead pooled connections and repeats
  the read, or the BEGIN, once).

SQLite: an embedded file cannot be "down" the way a server can: there is no connection to
lose, the file is opened at start and stays open (deleting or renaming it does not take it
away from the process). What can happen is another process holding the write lock longer than
the busy timeout (a backup tool, a `sqlite3` shell left in a transaction, a stuck second
service process). Readers are not blocked in WAL mode, so checks still give true answers from
the last committed state and `/readyz` stays ready; every write must answer 503, never 200,
and write nothing, and writes work again as soon as the lock goes, without a restart.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.mail.smtp import SmtpSink
from tests.reliability.procs import PrivatePostgres, Service, prepare
from tests.reliability.proxy import PartitionProxy

pytestmark = pytest.mark.slow
UNAVAILABLE = "The database is unavailable"


class Api:
    """The calls the tests make, on a running service, with an admin key."""

    def __init__(self, service: Service, headers: dict[str, str]):
        self.http = httpx.Client(base_url=service.base, headers=headers, timeout=30)

    def seed(self) -> dict:
        """A consent topic, a contact opted in with an unsubscribe token, a bounced address."""
        topic = self.http.post("/v1/topics", json={
            "key": "newsletter", "name": "Newsletter", "channels": ["email"],
            "legal_basis": "consent", "transactional": False})
        assert topic.status_code == 201, topic.text
        links = self.http.post("/v1/links", json={"recipients": [
            {"channel": "email", "address": "ann@example.com", "topic": "newsletter"}]})
        assert links.status_code == 200, links.text
        contact = self.find("ann@example.com")["id"]
        opted = self.put_preferences(contact, "opted_in")
        assert opted.status_code == 200, opted.text
        bounced = self.add_suppression("bounced@example.com", "hard_bounce")
        assert bounced.status_code == 200, bounced.text
        return {"contact": contact, "token": links.json()["links"][0]["unsubscribe_url"]
                .rsplit("/u/", 1)[1]}

    def find(self, address: str) -> dict | None:
        found = self.http.get("/v1/contacts", params={"channel": "email", "address": address})
        assert found.status_code == 200, found.text
        return (found.json() or [None])[0]

    def add_suppression(self, address: str, reason: str = "manual") -> httpx.Response:
        return self.http.post("/v1/suppressions", json={
            "channel": "email", "reason": reason, "source": "crm", "addresses": [address]})

    def put_preferences(self, contact: str, status: str) -> httpx.Response:
        return self.http.put(f"/v1/contacts/{contact}/preferences", json={
            "preferences": [{"channel": "email", "topic": "newsletter", "status": status}],
            "source": "api", "wording_version": "reliability-v1"})

    def one_click(self, token: str) -> httpx.Response:
        return self.http.post(f"/u/{token}", content="List-Unsubscribe=One-Click", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Authorization": ""})

    def check(self, address: str, topic: str | None = "newsletter") -> httpx.Response:
        params = {"channel": "email", "address": address, **({"topic": topic} if topic else {})}
        return self.http.get("/v1/suppressions/check", params=params)

    def allowed(self, address: str, topic: str | None = "newsletter") -> bool:
        answer = self.check(address, topic)
        assert answer.status_code == 200, answer.text
        return answer.json()["allowed"]

    def writes(self, seeded: dict, n: int) -> dict[str, httpx.Response]:
        """One of every kind of write (the addresses are fresh: `n` tells the rounds apart)."""
        return {
            "add suppression": self.add_suppression(f"outage{n}@example.com"),
            "lift suppression": self.http.delete(
                "/v1/suppressions/email/bounced@example.com", params={"reason": "hard_bounce"}),
            "preferences": self.put_preferences(seeded["contact"], "opted_out"),
            "contact upsert": self.http.post("/v1/contacts", json={
                "external_ref": f"crm-outage-{n}",
                "addresses": [{"channel": "email", "address": f"new{n}@example.com"}]}),
            "links": self.http.post("/v1/links", json={"recipients": [
                {"channel": "email", "address": f"linked{n}@example.com"}]}),
            "subscription": self.http.post("/v1/subscriptions", json={
                "channel": "email", "address": f"signup{n}@example.com",
                "topics": ["newsletter"], "wording_version": "signup-v1"}),
            "one-click": self.one_click(seeded["token"]),
        }

    def checks(self) -> dict[str, httpx.Response]:
        return {
            "check unknown": self.check("nobody@example.com", None),
            "check bounced": self.check("bounced@example.com", None),
            "bulk json": self.http.post("/v1/suppressions/check", json={
                "channel": "email", "addresses": ["nobody@example.com", "bounced@example.com"]}),
            "bulk text": self.http.post(
                "/v1/suppressions/check", params={"channel": "email", "all": "true"},
                content="nobody@example.com\nbounced@example.com\n",
                headers={"Content-Type": "text/plain"}),
        }


def assert_unavailable(responses: dict[str, httpx.Response]) -> None:
    for name, response in responses.items():
        assert response.status_code == 503, f"{name}: {response.status_code} {response.text}"
        assert response.headers.get("retry-after"), name
        assert UNAVAILABLE in response.json()["detail"], name
        assert '"allowed":true' not in response.text.replace(" ", ""), name


def assert_ok(responses: dict[str, httpx.Response]) -> None:
    for name, response in responses.items():
        assert 200 <= response.status_code < 300, f"{name}: {response.status_code} {response.text}"


# -- PostgreSQL ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smtp():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory, smtp):
    """(private PostgreSQL, proxy in front of it, the service through the proxy, Api, seed)."""
    folder = tmp_path_factory.mktemp("outage-pg")
    pg = PrivatePostgres().start()
    proxy = PartitionProxy(pg.primary_port)
    service = None
    try:
        env, headers = prepare(f"postgresql://postgres@127.0.0.1:{proxy.port}/prefs", folder,
                               API_KEY_CACHE_SECONDS="0.5", SMTP_PORT=str(smtp.port))
        service = Service(env, folder / "service.log").start()
        api = Api(service, headers)
        yield pg, proxy, service, api, api.seed()
    finally:
        if service is not None:
            service.stop()
        proxy.close()
        pg.close()


def test_postgres_stopped_503_then_recovers_without_a_restart(pg_stack, smtp):
    pg, _, service, api, seeded = pg_stack
    assert api.allowed("ann@example.com") is True
    assert api.allowed("bounced@example.com", None) is False
    for round_, mode in enumerate(("immediate", "fast")):
        pg.down(mode)
        try:
            # the first round right away (the API key still cached), the next one after the
            # key cache expired (the key look-up itself meets the outage)
            for n in range(2):
                assert_unavailable(api.writes(seeded, 10 * round_ + n))
                assert_unavailable(api.checks())
                ready = api.http.get("/readyz")
                assert ready.status_code == 503 and ready.json()["ready"] is False
                assert api.http.get("/healthz").status_code == 200  # alive, not ready
                time.sleep(0.6)
        finally:
            pg.up()
        # the first request after the database is back succeeds, with no restart
        first = api.add_suppression(f"after{round_}@example.com")
        assert first.status_code == 200, first.text
        assert api.http.get("/readyz").status_code == 200
        assert service.proc.poll() is None and service.starts == 1

    # nothing answered 503 was written
    for n in (0, 1, 10, 11):
        assert api.allowed(f"outage{n}@example.com", None) is True
        assert api.find(f"new{n}@example.com") is None
        assert api.find(f"linked{n}@example.com") is None
        assert api.find(f"signup{n}@example.com") is None
    assert api.allowed("bounced@example.com", None) is False
    assert api.allowed("ann@example.com") is True

    # and everything works again: checks, writes, the one-click unsubscribe
    assert_ok(api.checks())
    assert_ok(api.writes(seeded, 99))
    assert api.allowed("ann@example.com") is False
    assert api.allowed("outage99@example.com", None) is False
    assert api.allowed("bounced@example.com", None) is True  # lifted after recovery
    # the background loops lived through the outage: the sign-up's confirmation goes out
    deadline = time.monotonic() + 30  # a bound on waiting, not a speed assertion
    while not smtp.to("signup99@example.com") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(smtp.to("signup99@example.com")) == 1


def test_postgres_dead_pooled_connections_do_not_fail_the_first_requests(pg_stack):
    """The network drops every connection silently while the server restarts; when it heals,
    the pool's connections are dead (reset on first use). No request may fail on them."""
    pg, proxy, service, api, seeded = pg_stack
    with httpx.Client(base_url=service.base, headers=api.http.headers, timeout=30) as http:
        warm = [http.get("/v1/suppressions/check",
                         params={"channel": "email", "address": f"w{i}@example.com"})
                for i in range(3)]
        assert_ok(dict(enumerate(warm)))
    # fill the pool: concurrent requests make it open up to its maximum of connections
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: api.add_suppression(f"warm{i}@example.com")
                                 .status_code, range(48)))
    assert set(statuses) == {200}
    assert len(proxy.links) >= 3, "the pool should hold several connections"

    proxy.partition()
    pg.down("immediate")
    pg.up()
    proxy.heal()

    # more requests than the pool has connections, one after another, then concurrently
    sequential = {
        "add": api.add_suppression("healed@example.com"),
        "check": api.check("healed@example.com", None),
        "readyz": api.http.get("/readyz"),
        **{f"add {i}": api.add_suppression(f"healed{i}@example.com") for i in range(12)},
        "one-click": api.one_click(seeded["token"]),
    }
    assert_ok(sequential)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: api.check(f"healed{i}@example.com", None)
                                 .status_code, range(12)))
    assert statuses == [200] * 12
    assert api.allowed("healed@example.com", None) is False
    assert service.starts == 1


# -- SQLite -------------------------------------------------------------------------------------
LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until told to go
conn.execute("ROLLBACK")
"""


def test_sqlite_write_lock_held_elsewhere_503_for_writes_then_recovers(tmp_path):
    path = tmp_path / "service.db"
    env, headers = prepare(f"sqlite:///{path}", tmp_path, SQLITE_BUSY_TIMEOUT_MS="300",
                           API_KEY_CACHE_SECONDS="0.5")
    service = Service(env, tmp_path / "service.log").start()
    try:
        api = Api(service, headers)
        seeded = api.seed()
        before = table_counts(path)
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert locker.stdout.readline().strip() == "locked"
            for n in range(2):
                assert_unavailable(api.writes(seeded, n))
                # readers are not blocked (WAL): true answers from the committed state
                checks = api.checks()
                assert_ok(checks)
                assert checks["check bounced"].json()["allowed"] is False
                assert checks["check unknown"].json()["allowed"] is True
                assert api.http.get("/readyz").status_code == 200
                time.sleep(0.6)
        finally:
            locker.stdin.close()
            locker.wait(30)
        assert table_counts(path) == before, "a write answered 503 left something behind"
        first = api.add_suppression("after@example.com")
        assert first.status_code == 200, first.text
        assert_ok(api.writes(seeded, 99))
        assert api.allowed("ann@example.com") is False
        assert api.allowed("outage0@example.com", None) is True
        assert api.allowed("outage99@example.com", None) is False
        assert service.proc.poll() is None and service.starts == 1
    finally:
        service.stop()


def table_counts(path: Path) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()
