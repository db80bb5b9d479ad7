from __future__ import annotations

import pytest

from service.runtime import build_runtime
from tests.mail.smtp import SmtpSink


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd), running; `smtp.stop()` / `smtp.start()` to take it down."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def worker(settings, smtp):
    """The outbox worker's runtime, on the test's event loop, sending to `smtp`."""
    rt = build_runtime(settings.model_copy(update={"smtp_host": "127.0.0.1",
                                                   "smtp_port": smtp.port}))
    await rt.db.open()
    yield rt
    await rt.db.close()
