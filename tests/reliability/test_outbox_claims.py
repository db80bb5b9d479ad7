"""None sent twice when the SMTP server is slow rather than down (both engines).

A worker claims a batch of jobs for CLAIM_SECONDS and sends them one after the other. When the
SMTP server hangs (it accepts connections, then answers slowly: overloaded, or a greylisting
relay), the batch outlives the claim; another worker (a second process, `serve --workers 2`,
or `python -m service worker`) then claims the same jobs, and once the server answers both
send them: every person gets the email twice. The claim is now renewed, and checked to be
still this worker's, right before each send (service/outbox.py).

The claim time is shortened here (monkeypatch) so the test takes seconds, not minutes; the
SMTP server is real (aiosmtpd), its slowness is real waiting.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from service import outbox
from service.mail.senders import SENDERS
from service.runtime import build_runtime
from tests.mail.smtp import SmtpSink

JOBS = 4


class SlowSmtp(SmtpSink):
    """Takes `delay` seconds to accept each message."""

    delay = 0.8

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp():
    sink = SlowSmtp()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def workers(settings, smtp):
    """Two outbox workers (runtimes of their own, as two processes would have)."""
    runtimes = [build_runtime(settings.model_copy(update={"smtp_port": smtp.port}))
                for _ in range(2)]
    for rt in runtimes:
        await rt.db.open()
    yield runtimes
    for rt in runtimes:
        await rt.db.close()


async def test_a_batch_outliving_its_claim_is_not_sent_twice(db, workers, smtp, monkeypatch):
    monkeypatch.setattr(outbox, "CLAIM_SECONDS", 1)  # shorter than the batch takes
    for n in range(JOBS):
        async with db.transaction() as tx:
            await outbox.enqueue(tx, "email", {
                "to": f"slow{n}@example.com", "template": "preferences_link", "lang": "en",
                "context": {"url": "https://prefs.example.com/p/tok"},
                "list_unsubscribe": None})
    first, second = workers

    async def later() -> int:
        await asyncio.sleep(1.3)  # the first worker is still busy; its claim has run out
        return await outbox.run_once(second, SENDERS)

    await asyncio.gather(outbox.run_once(first, SENDERS), later())
    for _ in range(3):  # whatever is left over, by either worker
        await outbox.run_once(first, SENDERS)
        await outbox.run_once(second, SENDERS)

    sent = Counter(message["To"] for message in smtp.messages)
    assert sent == {f"slow{n}@example.com": 1 for n in range(JOBS)}
    assert await db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == JOBS
