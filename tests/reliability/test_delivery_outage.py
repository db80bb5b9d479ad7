"""SMTP server and webhook target down, end to end, on both engines.

tests/mail/test_mail.py (mail queued while SMTP is down, delivered once later) and
tests/webhooks/test_outgoing.py (receiver down, failing, back: every change in order, once)
drive the outbox by hand, in-process. This runs what production runs: two real service
processes (`python -m service serve`, background loops inside) sharing one database, so both
compete for the same outbox jobs, with their own timing and backoff, while
- a real SMTP server (aiosmtpd) and a real HTTP webhook receiver are down (connection
  refused on their usual ports) during sign-ups and changes sent to either process,
- then come back.
Afterwards every confirmation email arrived exactly once, every change reached the receiver
exactly once and in order, and no job was given up on.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from service.db.engine import Database
from tests.mail.smtp import SmtpSink
from tests.reliability.procs import Service, own_pg_database, prepare
from tests.webhooks.test_outgoing import Receiver

pytestmark = pytest.mark.slow
SIGNUPS = 24


async def wait_for(condition, what: str, bound: float = 60) -> None:
    """Poll until `await condition()`; the bound only keeps a broken run from hanging."""
    deadline = time.monotonic() + bound
    while not await condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.2)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
    else:
        with own_pg_database() as url:
            yield url


async def test_mail_and_webhooks_wait_for_their_targets_none_lost_none_twice(database_url,
                                                                              tmp_path):
    smtp, receiver = SmtpSink(), Receiver()
    receiver.start()
    receiver.stop()  # its port is kept: "down" is connection refused on the usual port
    env, headers = prepare(database_url, tmp_path, SMTP_PORT=str(smtp.port),
                           WEBHOOK_BATCH_SIZE="5", RUN_WORKERS_IN_WEB="true")
    services = [Service(env, tmp_path / f"service{i}.log") for i in range(2)]
    db = Database(database_url, synchronous="NORMAL")
    http = httpx.AsyncClient(headers=headers, timeout=30)
    try:
        for service in services:
            service.start()
        await db.open()
        a, b = (s.base for s in services)
        assert (await http.post(f"{a}/v1/topics", json={
            "key": "newsletter", "name": "Newsletter", "channels": ["email"],
            "legal_basis": "consent", "transactional": False})).status_code == 201
        subscription = await http.post(f"{b}/v1/webhook-subscriptions", json={"url": receiver.url})
        assert subscription.status_code == 201, subscription.text
        start = subscription.json()["last_seq"]

        async def signup(n: int) -> None:
            answer = await http.post(f"{(a, b)[n % 2]}/v1/subscriptions", json={
                "channel": "email", "address": f"signup{n}@example.com",
                "topics": ["newsletter"], "wording_version": "signup-v1"})
            assert answer.status_code == 202, answer.text
            assert answer.json()["confirmation_email"] == "queued"

        async def suppress(n: int) -> None:
            answer = await http.post(f"{(b, a)[n % 2]}/v1/suppressions", json={
                "channel": "email", "reason": "hard_bounce", "source": "esp",
                "addresses": [f"bounce{n}@example.com"]})
            assert answer.status_code == 200, answer.text

        for n in range(SIGNUPS // 2):
            await signup(n)
            await suppress(n)

        # both kinds of job were tried and failed, and wait in the outbox
        async def failed_both() -> bool:
            kinds = {r[0] for r in await db.fetch(
                "SELECT kind FROM outbox WHERE status = 'pending' AND attempts > 0"
                " AND last_error IS NOT NULL")}
            return kinds == {"email", "webhook"}

        await wait_for(failed_both, "email and webhook jobs attempted while their targets are down")
        for n in range(SIGNUPS // 2, SIGNUPS):  # more while they are still down
            await signup(n)
            await suppress(n)
        await asyncio.sleep(2)  # let the loops fail a few more times, with backoff
        assert smtp.messages == [] and receiver.requests == []

        smtp.start()
        receiver.start()
        high = await db.fetchval("SELECT MAX(seq) FROM change_feed")

        async def delivered() -> bool:
            emails = await db.fetchval("SELECT COUNT(*) FROM outbox WHERE kind = 'email'"
                                       " AND status = 'sent'")
            cursor = await db.fetchval("SELECT last_seq FROM webhook_subscription")
            return emails == SIGNUPS and cursor == high

        await wait_for(delivered, "every email sent and every change acknowledged after recovery")
        await asyncio.sleep(1.5)  # a duplicate, if one were coming, would come now

        per_address = Counter(m["To"] for m in smtp.messages)
        assert per_address == {f"signup{n}@example.com": 1 for n in range(SIGNUPS)}
        seqs = [change["seq"] for change in receiver.acknowledged()]
        expected = [r[0] for r in await db.fetch(
            "SELECT seq FROM change_feed WHERE seq > $1 ORDER BY seq", start)]
        assert seqs == expected, "every change once, in order"
        assert len(expected) == 2 * SIGNUPS  # a pending consent and a suppression each
        ids = [h["Webhook-Id"] for status, h, _ in receiver.requests if status == 200]
        assert len(ids) == len(set(ids)), "a batch was acknowledged twice"
        assert await db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'dead'") == 0
        assert all(s.proc.poll() is None for s in services)
    finally:
        for service in services:
            service.stop()
        smtp.stop()
        receiver.stop()
        await db.close()
        await http.aclose()
