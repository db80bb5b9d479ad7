"""The ledger's checkpoints on a schedule: inside `serve` (embedded default) and
`python -m service worker`, every LEDGER_CHECKPOINT_INTERVAL_SECONDS, one per tenant (a
checkpoint covers its tenant's chains only, decision D7 of docs/plans/tenants.md)."""

from __future__ import annotations

from datetime import datetime

from service.background import each_tenant, until_next_boundary
from service.consent.verify import MIN_INTERVAL, checkpoint_if_due
from service.runtime import Runtime


async def checkpoint_pass(rt: Runtime, now: datetime | None = None) -> dict:
    """Every tenant's checkpoint of this interval, where none was written just now: tenant
    slug -> the checkpoint written, or None."""
    interval = rt.settings.ledger_checkpoint_interval_seconds

    async def one(view: Runtime):
        return await checkpoint_if_due(view.db, interval, now)

    return await each_tenant(rt, one, "ledger checkpoint")


async def ledger_checkpoint_loop(rt: Runtime) -> None:
    while True:
        await checkpoint_pass(rt)
        await until_next_boundary(max(MIN_INTERVAL,
                                      rt.settings.ledger_checkpoint_interval_seconds))


LOOPS = {"ledger_checkpoint": ledger_checkpoint_loop}
