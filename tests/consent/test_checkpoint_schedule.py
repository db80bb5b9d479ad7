"""The ledger checkpoint schedule writes one checkpoint per tenant, each of its own chains
(issue 18; the digest per tenant is decision D7): a pass goes over every tenant in its view,
skips a tenant checkpointed just now (another instance), and takes in a tenant created by
another process at a later pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.consent.jobs import checkpoint_pass
from service.consent.logic import save_changes
from service.consent.verify import latest_checkpoint, verify
from service.runtime import build_runtime
from service.tenants.logic import create_tenant
from service.tenants.registry import TenantRegistry
from tests.consent.test_tenant_isolation import CHANGES, PROOF, person
from tests.consent.test_tenant_isolation import NOW as EVENTS_AT

NOW = datetime.now(UTC)


@pytest.fixture
async def runtime(settings, client):
    """A process's runtime of its own whose registry reads the tenant table at every pass."""
    rt = build_runtime(settings.model_copy(update={"tenant_cache_seconds": 0}))
    await rt.db.open()
    await rt.load_tenants()
    yield rt
    await rt.db.close()


async def _events(view, key: str) -> None:
    contact_id = await person(view.db, key)
    changed, _ = await save_changes(view.db, contact_id, CHANGES, PROOF, EVENTS_AT)
    assert changed == 3


async def test_a_pass_writes_each_tenant_its_own_checkpoint(runtime, db, raw_db):
    made = await create_tenant(db, TenantRegistry(), "b", "Brand B")
    b = runtime.for_tenant(made["id"])
    await _events(runtime, "ann")
    await _events(b, "bea")
    await _events(b, "bob")

    written = await checkpoint_pass(runtime, NOW)
    assert list(written) == ["default", "b"]
    assert (written["default"].chains, written["b"].chains) == (1, 2)
    rows = await raw_db.fetch("SELECT tenant_id, digest FROM ledger_checkpoint ORDER BY id")
    assert [(r["tenant_id"], r["digest"]) for r in rows] == [
        (1, written["default"].digest), (made["id"], written["b"].digest)]
    for view in (runtime, runtime.for_tenant(made["id"])):
        report = await verify(view.db)
        assert report.mismatch is None
        assert report.checkpoint.id == (await latest_checkpoint(view.db)).id

    # another instance at the same boundary: nothing due, nothing written
    assert await checkpoint_pass(runtime, NOW + timedelta(seconds=1)) == {
        "default": None, "b": None}
    # a tenant made by another process since: its first checkpoint at the next pass
    made_c = await create_tenant(db, TenantRegistry(), "c", "Brand C")
    await _events(runtime.for_tenant(made_c["id"]), "cid")
    later = await checkpoint_pass(runtime, NOW + timedelta(seconds=2))
    assert (later["default"], later["b"], later["c"].chains) == (None, None, 1)
    assert await raw_db.fetchval("SELECT COUNT(*) FROM ledger_checkpoint") == 3
