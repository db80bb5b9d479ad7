"""Retention on the schedule runs once per tenant, in the tenant's view and by its own periods
(issue 18): a tenant's run removes only its own people, the slot is claimed per tenant, a
tenant created by another process joins at a later pass, and the outbox (the process's queue,
a deployment setting) is pruned by the default tenant's run only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from service.background import each_tenant
from service.db.tenant_db import TenantDb
from service.outbox import enqueue
from service.privacy.jobs import retention_pass
from service.privacy.retention import run_retention
from service.runtime import build_runtime
from service.tenants.logic import create_tenant
from service.tenants.registry import TenantRegistry
from tests.privacy.test_retention import _contact, _pref

NOW = datetime.now(UTC)


@pytest.fixture
async def runtime(settings, client):
    """A process's runtime of its own (the app's lives on the client's loop) whose registry
    reads the tenant table again at every pass, as it does once TENANT_CACHE_SECONDS pass."""
    rt = build_runtime(settings.model_copy(update={"tenant_cache_seconds": 0}))
    await rt.db.open()
    await rt.load_tenants()
    yield rt
    await rt.db.close()


async def _opted_out(view, email: str, days_ago: int) -> str:
    """A contact of the view's tenant, opted out of email altogether `days_ago` days ago."""
    when = NOW - timedelta(days=days_ago)
    cid, key = await _contact(view.db, view, email, when)
    await _pref(view.db, cid, key, None, "opt_out", when)
    return cid


async def _contacts(raw_db, tenant_id: int) -> list[str]:
    rows = await raw_db.fetch("SELECT id FROM contact WHERE tenant_id = $1", tenant_id)
    return sorted(r["id"] for r in rows)


async def test_each_tenant_runs_its_own_retention_by_its_own_periods(runtime, db, raw_db):
    made = await create_tenant(db, TenantRegistry(), "b", "Brand B",
                               settings={"retention_opted_out_days": 100})
    b = runtime.for_tenant(made["id"])  # not yet in the runtime's registry: built on the fly
    # the same address in both tenants, opted out 40 days ago: past the default's 30 days,
    # within B's 100
    await _opted_out(runtime, "same@example.com", 40)
    b_40 = await _opted_out(b, "same@example.com", 40)
    await _opted_out(b, "old@example.com", 120)
    a_10 = await _opted_out(runtime, "recent@example.com", 10)

    assert await retention_pass(runtime, NOW) == {"default": True, "b": True}
    assert await _contacts(raw_db, 1) == [a_10]
    assert await _contacts(raw_db, made["id"]) == [b_40]
    # each tenant's run counted its own removal, in its own slot
    slots = await raw_db.fetch("SELECT tenant_id, payload FROM outbox WHERE kind = 'retention'"
                               " ORDER BY tenant_id")
    assert [r["tenant_id"] for r in slots] == [1, made["id"]]
    assert all('"contacts": 1' in str(r["payload"]) for r in slots)
    # another instance at the same boundary finds both slots taken
    assert await retention_pass(runtime, NOW) == {"default": False, "b": False}
    # a tenant made elsewhere since (another process: not this runtime's registry) joins
    await create_tenant(db, TenantRegistry(), "c", "Brand C")
    assert await retention_pass(runtime, NOW) == {"default": False, "b": False, "c": True}


async def test_only_the_default_tenants_run_prunes_the_outbox(settings, db, raw_db):
    made = await create_tenant(db, TenantRegistry(), "b", "Brand B")
    b = TenantDb(raw_db, made["id"])
    old = NOW - timedelta(days=40)
    for view in (db, b):
        async with view.transaction() as tx:
            await enqueue(tx, "email", {"to": "x@example.com"}, now=old)
        await raw_db.execute("UPDATE outbox SET status = 'sent', sent_at = $1", old)
    counts = await run_retention(b, settings, now=NOW)
    assert (counts.outbox_sent_deleted, await raw_db.fetchval("SELECT COUNT(*) FROM outbox")
            ) == (0, 2)
    counts = await run_retention(db, settings, now=NOW)  # the queue of every tenant
    assert (counts.outbox_sent_deleted, await raw_db.fetchval("SELECT COUNT(*) FROM outbox")
            ) == (2, 0)


async def test_one_tenants_failure_leaves_the_others_running(runtime, db, caplog):
    await create_tenant(db, TenantRegistry(), "b", "Brand B")
    await create_tenant(db, TenantRegistry(), "c", "Brand C")

    async def job(view):
        if view.tenant.slug == "b":
            raise RuntimeError("B's data is broken")
        return view.tenant_id

    with caplog.at_level(logging.ERROR, logger="service.background"):
        done = await each_tenant(runtime, job, "the test job")
    assert list(done) == ["default", "c"] and done["default"] == 1
    assert "the test job failed for the tenant 'b'" in caplog.text
    assert "B's data is broken" in caplog.text


async def test_with_one_tenant_a_pass_is_one_call_on_the_runtime_itself(runtime):
    seen = []

    async def job(view):
        seen.append(view)

    assert await each_tenant(runtime, job, "the test job") == {"default": None}
    assert seen == [runtime]
