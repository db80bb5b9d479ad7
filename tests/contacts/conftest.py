"""Fixtures of the contacts tests."""

from __future__ import annotations

import pytest

from service.runtime import build_runtime


@pytest.fixture
async def rt(settings, client, admin_headers):
    """A runtime of the test's own (like the CLI builds), with two topics."""
    for key, channels in (("newsletter", ["email"]), ("offers", ["email", "sms"])):
        await client.post("/v1/topics", headers=admin_headers,
                          json={"key": key, "name": key, "channels": channels})
    runtime = build_runtime(settings)
    await runtime.db.open()
    yield runtime
    await runtime.db.close()
