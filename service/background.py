"""Background loops (outbox delivery, retention) run inside `serve` for the embedded default,
or on their own as `python -m service worker` (the Procfile's worker process)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from service.capabilities import collect
from service.outbox import outbox_loop
from service.runtime import Runtime

log = logging.getLogger("service.background")

def loops() -> dict[str, Callable[[Runtime], Awaitable[None]]]:
    """name -> coroutine function looping until cancelled: the outbox, plus the LOOPS dict of
    every `service/<capability>/jobs.py`."""
    return {"outbox": outbox_loop, **collect("jobs", "LOOPS")}


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
