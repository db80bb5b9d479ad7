"""The ledger's checkpoints on a schedule: inside `serve` (embedded default) and
`python -m service worker`, every LEDGER_CHECKPOINT_INTERVAL_SECONDS."""

from __future__ import annotations

from service.consent.verify import checkpoint_loop
from service.runtime import Runtime


async def ledger_checkpoint_loop(rt: Runtime) -> None:
    await checkpoint_loop(rt.db, rt.settings.ledger_checkpoint_interval_seconds)


LOOPS = {"ledger_checkpoint": ledger_checkpoint_loop}
