"""Background loops (outbox delivery, retention) run inside `serve` for the embedded default,
or on their own as `python -m service worker` (the Procfile's worker process).

Two kinds of loop (issue 18, tenants). The outbox and the webhook fan-out are the process's
queues: one pass serves every tenant, each job in its own tenant's view. The scheduled jobs
(retention, ledger checkpoints) act on one tenant's data with that tenant's settings, so each
pass runs them once per tenant, in the tenant's view (`each_tenant`): a tenant's retention
removes only its rows, by its own periods, and every tenant gets its own checkpoint. With only
the default tenant a pass is one call on the runtime itself, as before tenants.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from service.capabilities import collect
from service.outbox import outbox_loop
from service.runtime import Runtime

log = logging.getLogger("service.background")

def loops() -> dict[str, Callable[[Runtime], Awaitable[None]]]:
    """name -> coroutine function looping until cancelled: the outbox, plus the LOOPS dict of
    every `service/<capability>/jobs.py`."""
    return {"outbox": outbox_loop, **collect("jobs", "LOOPS")}


async def each_tenant(rt: Runtime, job: Callable[[Runtime], Awaitable[Any]], what: str
                      ) -> dict[str, Any]:
    """`await job(view)` for every tenant's view, in id order; the tenant slugs with what
    each call returned. The tenants come from the registry, read again once it is older than
    TENANT_CACHE_SECONDS, so one created by another process (`tenant create`) joins at a
    later pass. A tenant whose job fails is logged and skipped: one tenant's bad data or
    settings must not stop the others' retention or checkpoints."""
    done: dict[str, Any] = {}
    for tenant in await rt.tenants.current(rt.db) or [rt.tenant]:
        try:
            done[tenant.slug] = await job(rt.for_tenant(tenant.id))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed for the tenant %r; the other tenants go on", what,
                          tenant.slug)
    return done


async def until_next_boundary(interval: int) -> None:
    """Sleep until the next multiple of `interval` seconds, plus up to 30 s (a tenth of the
    interval at most) so that instances woken together do not all hit the database at once."""
    wait = interval - time.time() % interval
    await asyncio.sleep(wait + random.uniform(0, min(30.0, interval / 10)))


def start(rt: Runtime) -> None:
    for name, loop in loops().items():
        rt.tasks[name] = asyncio.create_task(_guarded(name, loop, rt), name=name)


async def _guarded(name: str, loop: Callable[[Runtime], Awaitable[None]], rt: Runtime) -> None:
    """Keep a loop alive across unexpected errors (a database outage, say)."""
    while True:
        try:
            await loop(rt)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop %s failed; restarting in 1s", name)
            await asyncio.sleep(1)


async def stop(rt: Runtime) -> None:
    tasks = list(rt.tasks.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    rt.tasks.clear()
