"""Background loops of the webhooks capability."""

from __future__ import annotations

import asyncio
import logging

from service.runtime import Runtime
from service.webhooks.outgoing import schedule

log = logging.getLogger("service.webhooks")


async def webhook_fanout(rt: Runtime, idle_seconds: float = 0.5) -> None:
    """Queue a delivery job for each subscription behind the change feed, for ever."""
    while True:
        try:
            await schedule(rt)
        except Exception:
            log.exception("webhook scheduling failed (database down?); retrying")
        await asyncio.sleep(idle_seconds)


LOOPS = {"webhook_fanout": webhook_fanout}
