"""Outgoing webhooks to a real local HTTP receiver: every change, in order, signed, none lost
and none acknowledged twice while the receiver is down, failing, then back."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from service import outbox
from service.consent.ledger import Proof, set_preference
from service.contacts.store import ensure_contact_for_address
from service.db.scoped import Scoped
from service.db.tenant_db import TenantDb
from service.errors import NotFound
from service.runtime import build_runtime
from service.suppression.store import add_suppression, remove_suppression
from service.webhooks.outgoing import (
    create_subscription,
    delete_subscription,
    list_subscriptions,
    schedule,
    set_active,
)
from service.webhooks.senders import SENDERS
from tests.conftest import make_settings


class Receiver:
    """A CRM endpoint on a fixed local port that can be stopped, started and made to fail."""

    def __init__(self):
        self.port = 0
        self.requests: list[tuple[int, dict, bytes]] = []  # (status answered, headers, body)
        self.fail_next = 0
        self.server: HTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    status = 500
                receiver.requests.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def acknowledged(self) -> list[dict]:
        return [change for status, _, body in self.requests if status == 200
                for change in json.loads(body)["changes"]]


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
async def worker_rt(database_url, tmp_path, client):
    """A runtime of the test's own (its loop) for the fan-out and the outbox worker."""
    rt = build_runtime(make_settings(database_url, tmp_path, webhook_batch_size=3))
    await rt.db.open()
    yield rt
    await rt.db.close()


async def pump(rt, rounds: int = 1) -> None:
    """What the background loops do, without waiting out the backoff."""
    for _ in range(rounds):
        await schedule(rt)
        await rt.db.execute("UPDATE outbox SET next_attempt_at = $1 WHERE status = 'pending'",
                            datetime.now(UTC))
        await outbox.run_once(rt, SENDERS)


async def changes(db, rt, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        key = rt.parse_address("email", f"user{i}@example.com")[1]
        async with db.transaction() as tx:
            await add_suppression(tx, channel="email", address_key=key, reason="manual",
                                  source="test")
        if i % 3 == 0:
            async with db.transaction() as tx:
                await remove_suppression(tx, channel="email", address_key=key, reason="manual",
                                         source="test")


async def subscribe(client, admin_headers, url: str, **extra) -> dict:
    response = await client.post("/v1/webhook-subscriptions", headers=admin_headers,
                                 json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def test_down_then_up_none_lost_none_twice_in_order(client, admin_headers, db, rt,
                                                         worker_rt, receiver):
    await changes(db, rt, 2)  # before the subscription: not delivered
    sub = await subscribe(client, admin_headers, receiver.url)
    assert sub["secret"].startswith("whsec_")
    listed = (await client.get("/v1/webhook-subscriptions", headers=admin_headers)).json()
    assert "secret" not in listed[0]

    receiver.stop()  # down: connection refused
    await changes(db, rt, 5, start=10)
    normalized, key = rt.parse_address("email", "ann@example.com")
    async with db.transaction() as tx:
        contact, _ = await ensure_contact_for_address(
            tx, channel="email", normalized=normalized, address_key=key, given="ann@example.com")
        await set_preference(tx, contact_id=contact, channel="email", topic=None,
                             action="opt_out", proof=Proof(source="api"), address_key=key)
    await pump(worker_rt, 3)
    assert receiver.acknowledged() == []
    failing = (await client.get("/v1/webhook-subscriptions", headers=admin_headers)).json()[0]
    assert failing["failing"] is True and failing["last_error"]

    receiver.start()  # up again on the same port, failing once more before it recovers
    receiver.fail_next = 1
    await pump(worker_rt, 3)
    await changes(db, rt, 4, start=20)  # writes go on while it catches up
    await pump(worker_rt, 10)

    expected = [row["seq"] for row in await db.fetch(
        "SELECT seq FROM change_feed WHERE seq > $1 ORDER BY seq", sub["last_seq"])]
    got = [change["seq"] for change in receiver.acknowledged()]
    assert got == expected, "every change after the subscription, in order, once"
    assert len(got) == 5 + 1 + 1 + 4 + 1  # adds and removals, the opt-out, adds and removal
    kinds = {(c["kind"], c["op"], c["value"]) for c in receiver.acknowledged()}
    assert ("preference", "updated", "opted_out") in kinds
    assert ("suppression", "removed", "manual") in kinds
    assert any(status == 500 for status, _, _ in receiver.requests)
    state = (await client.get("/v1/webhook-subscriptions", headers=admin_headers)).json()[0]
    assert state["last_seq"] == expected[-1] and state["failing"] is False


async def test_deliveries_are_signed_with_the_secret(client, admin_headers, db, rt, worker_rt,
                                                     receiver):
    sub = await subscribe(client, admin_headers, receiver.url, from_start=True)
    await changes(db, rt, 2)
    await pump(worker_rt, 2)
    assert receiver.requests
    for _, headers, body in receiver.requests:
        fields = dict(part.split("=", 1) for part in headers["Webhook-Signature"].split(","))
        expected = hmac.new(sub["secret"].encode(), f"{fields['t']}.".encode() + body,
                            hashlib.sha256).hexdigest()
        assert hmac.compare_digest(fields["v1"], expected)
        first, last = json.loads(body)["changes"][0]["seq"], json.loads(body)["changes"][-1]["seq"]
        assert headers["Webhook-Id"] == f"{sub['id']}-{first}-{last}"


async def test_a_subscription_given_up_on_is_switched_off_and_resumes(
        client, admin_headers, db, rt, worker_rt, receiver):
    sub = await subscribe(client, admin_headers, receiver.url)
    receiver.stop()
    await changes(db, rt, 2)
    await pump(worker_rt)
    await db.execute("UPDATE outbox SET status = 'dead' WHERE kind = 'webhook'")  # gave up
    await pump(worker_rt)
    listed = (await client.get("/v1/webhook-subscriptions", headers=admin_headers)).json()
    assert listed[0]["active"] is False
    receiver.start()
    resumed = await client.patch(f"/v1/webhook-subscriptions/{sub['id']}",
                                 headers=admin_headers, json={"active": True})
    assert resumed.status_code == 200 and resumed.json()["active"] is True
    await pump(worker_rt, 3)
    assert len(receiver.acknowledged()) == 3  # two adds and a removal


async def test_subscription_admin_validation(client, admin_headers, make_key):
    bad = await client.post("/v1/webhook-subscriptions", headers=admin_headers,
                            json={"url": "ftp://crm.example.com/x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"
    reader = await make_key("suppressions:read")
    assert (await client.get("/v1/webhook-subscriptions", headers=reader)).status_code == 403
    assert (await client.delete("/v1/webhook-subscriptions/999",
                                headers=admin_headers)).status_code == 404


FEED_ROW = Scoped("INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic,"
                  " value, source, occurred_at) VALUES ($1, 'suppression', 'added', 'email', $2,"
                  " '', 'manual', 'test', $3)")


async def feed(view, *keys: str) -> list[int]:
    """Changes in the view's tenant, as its writers would add them; their seqs."""
    for key in keys:
        async with view.transaction() as tx:
            await tx.execute(FEED_ROW, key, datetime.now(UTC))
    rows = await view.raw.fetch("SELECT seq FROM change_feed WHERE tenant_id = $1 ORDER BY seq",
                                view.tenant_id)
    return [row["seq"] for row in rows]


async def test_a_tenants_subscription_gets_its_tenants_changes_only(raw_db, worker_rt,
                                                                    receiver):
    """Issue 18: one fan-out and one worker serve every tenant; each subscription's
    deliveries are its tenant's changes, in order, and another tenant cannot see, switch or
    delete it."""
    one, two = TenantDb(raw_db, 1), TenantDb(raw_db, 2)
    sub_one = await create_subscription(worker_rt, receiver.url, from_start=True)
    sub_two = await create_subscription(worker_rt.for_tenant(2), receiver.url, from_start=True)
    await feed(one, "a" * 64, "b" * 64)
    await feed(two, "a" * 64, "c" * 64, "d" * 64, "e" * 64)  # the same address key as well
    await feed(one, "f" * 64)
    await pump(worker_rt, 6)

    delivered: dict[int, list[int]] = {}
    for status, _, body in receiver.requests:
        assert status == 200
        sent = json.loads(body)
        delivered.setdefault(sent["subscription_id"], []).extend(
            change["seq"] for change in sent["changes"])
    assert delivered == {sub_one["id"]: await feed(one), sub_two["id"]: await feed(two)}
    # the delivery jobs were queued, and sent, in the subscription's tenant
    jobs = await raw_db.fetch("SELECT tenant_id, payload, status FROM outbox"
                              " WHERE kind = 'webhook' ORDER BY id")
    assert {(row["tenant_id"], row["status"]) for row in jobs} == {(1, "sent"), (2, "sent")}
    for row in jobs:
        payload = json.loads(row["payload"]) if isinstance(row["payload"], str) \
            else row["payload"]
        owner = sub_one if payload["subscription_id"] == sub_one["id"] else sub_two
        assert row["tenant_id"] == (1 if owner is sub_one else 2)

    assert [s["id"] for s in await list_subscriptions(worker_rt)] == [sub_one["id"]]
    assert [s["id"] for s in await list_subscriptions(worker_rt.for_tenant(2))] == [
        sub_two["id"]]
    with pytest.raises(NotFound):
        await set_active(worker_rt, sub_two["id"], False)
    with pytest.raises(NotFound):
        await delete_subscription(worker_rt, sub_two["id"])
    assert await raw_db.fetchval("SELECT active FROM webhook_subscription WHERE id = $1",
                                 sub_two["id"])
