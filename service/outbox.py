"""The durable outbox: jobs written in the requesting transaction, delivered by a worker.

A request that needs an email or a webhook only inserts an outbox row in its own transaction.
The worker claims due rows (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances
never take the same job; SQLite serializes writers anyway), hands each to the sender registered
for its kind, and marks it sent, or schedules a retry with exponential backoff. Nothing is lost
while the SMTP server or a webhook target is down; a job is dead only after MAX_ATTEMPTS.

Senders: each `service/<capability>/senders.py` defines SENDERS: kind -> async fn(rt, payload).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from service import outbox_queries as q
from service.capabilities import collect
from service.consent.ledger import Tx
from service.runtime import Runtime

log = logging.getLogger("service.outbox")
MAX_ATTEMPTS = 20
CLAIM_SECONDS = 120
BATCH = 50


def backoff(attempts: int) -> timedelta:
    """1s, 2s, 4s ... capped at one hour."""
    return timedelta(seconds=min(3600, 2 ** max(0, attempts - 1)))


async def enqueue(
    tx: Tx, kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Add a job in the caller's transaction; False when `dedupe_key` was already queued."""
    now = now or datetime.now(UTC)
    count = await tx.execute(q.ENQUEUE, kind, json.dumps(payload), dedupe_key, now)
    return count > 0


async def claim(rt: Runtime, limit: int = BATCH) -> list[Any]:
    """Claim due jobs of every tenant (each row names its tenant_id)."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=CLAIM_SECONDS)
    async with rt.db.transaction() as tx:
        return await tx.fetch(q.claim_sql(rt.db.engine), until, now, limit)


async def run_once(rt: Runtime, senders: dict | None = None) -> int:
    """Deliver what is due, every tenant's; returns how many jobs were tried."""
    senders = senders if senders is not None else collect("senders", "SENDERS")
    jobs = sorted(await claim(rt), key=lambda job: job["id"])
    for job in jobs:
        payload = job["payload"]
        if isinstance(payload, str):
            payload = json.loads(payload)
        sender = senders.get(job["kind"])
        # the job's tenant's view: its sender reads that tenant's rows and settings only
        job_rt = rt.for_tenant(job["tenant_id"])
        if not await _renew_claim(job_rt, job):
            continue  # another worker claimed it meanwhile: it sends it, not us
        try:
            if sender is None:
                raise RuntimeError(f"no sender for outbox kind {job['kind']!r}")
            await sender(job_rt, payload)
        except Exception as exc:  # any failure is retried later; the job stays
            await _failed(job_rt, job, exc)
        else:
            await job_rt.db.execute(q.SENT, datetime.now(UTC), job["id"])
    return len(jobs)


async def _renew_claim(rt: Runtime, job: Any) -> bool:
    """Extend this worker's claim on `job` right before sending it; False when another worker
    has claimed it since. A batch sent to a slow SMTP server or webhook target can outlive
    CLAIM_SECONDS, and another worker would then claim and send the same jobs again (sent
    twice). Every claim increments `attempts`, so an unchanged count means the claim is ours."""
    until = datetime.now(UTC) + timedelta(seconds=CLAIM_SECONDS)
    async with rt.db.transaction() as tx:
        return await tx.execute(q.EXTEND, until, job["id"], job["attempts"]) == 1


async def _failed(rt: Runtime, job: Any, exc: Exception) -> None:
    attempts = job["attempts"]
    dead = attempts >= MAX_ATTEMPTS
    log.warning("outbox job %s (%s) attempt %s failed: %s%s", job["id"], job["kind"], attempts,
                type(exc).__name__, " - giving up" if dead else "")
    await rt.db.execute(
        q.FAILED, "dead" if dead else "pending", datetime.now(UTC) + backoff(attempts),
        f"{type(exc).__name__}: {exc}"[:500], job["id"],
    )


async def outbox_loop(rt: Runtime, idle_seconds: float = 0.5) -> None:
    senders = collect("senders", "SENDERS")
    while True:
        try:
            tried = await run_once(rt, senders)
        except Exception:
            log.exception("outbox pass failed (database down?); retrying")
            tried = 0
        if not tried:
            await asyncio.sleep(idle_seconds)
