"""One outbox worker delivers every tenant's jobs, each in its own tenant (issue 18).

The claim is the one statement that reads every tenant's due jobs; each job is then sent,
settled (sent, failed, retried) and read by its sender through the tenant's view that queued
it, so a sender reads that tenant's rows and settings only.
"""

from __future__ import annotations

import pytest

from service import outbox
from service.db.scoped import Scoped
from service.db.tenant_db import TenantDb
from service.runtime import build_runtime

QUEUED = Scoped("SELECT COUNT(*) FROM outbox WHERE tenant_id = $1")


@pytest.fixture
async def worker(settings):
    rt = build_runtime(settings)
    await rt.db.open()
    yield rt
    await rt.db.close()


async def test_each_job_is_sent_and_settled_in_its_own_tenant(db, raw_db, worker):
    seen = []

    async def probe(job_rt, payload):
        seen.append((payload["n"], job_rt.tenant_id, await job_rt.db.fetchval(QUEUED)))
        if payload.get("fail"):
            raise RuntimeError("down")

    two = TenantDb(raw_db, 2)
    async with two.transaction() as tx:
        assert await outbox.enqueue(tx, "probe", {"n": 2}, dedupe_key="probe:two")
        assert not await outbox.enqueue(tx, "probe", {"n": 2}, dedupe_key="probe:two")
        assert await outbox.enqueue(tx, "probe", {"n": 3, "fail": True})
    async with db.transaction() as tx:
        assert await outbox.enqueue(tx, "probe", {"n": 1}, dedupe_key="probe:one")

    assert await outbox.run_once(worker, {"probe": probe}) == 3
    # (job, the tenant it ran in, how many jobs that tenant's view sees)
    assert sorted(seen) == [(1, 1, 1), (2, 2, 2), (3, 2, 2)]
    rows = await raw_db.fetch("SELECT tenant_id, dedupe_key, status, attempts, last_error"
                              " FROM outbox ORDER BY id")
    assert [tuple(r) for r in rows] == [(2, "probe:two", "sent", 1, None),
                                        (2, None, "pending", 1, "RuntimeError: down"),
                                        (1, "probe:one", "sent", 1, None)]
