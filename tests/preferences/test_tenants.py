"""Tenants (issue 18): the outbox row an unknown address costs is written into the asking
tenant, and its dedupe key's conflict is judged within that tenant, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

from service.db.tenant_db import TenantDb
from service.preferences.links import record_noop, window_dedupe_key
from tests.unsubscribe.helpers import tenant_of


async def test_a_noop_is_written_once_into_its_tenant(raw_db):
    now = datetime.now(UTC)
    for tenant_id in (2, 1):
        view = TenantDb(raw_db, tenant_id)
        key = window_dedupe_key("preferences-link", f"key-of-tenant-{tenant_id}", now)
        for _ in range(2):  # a repeat in the window is swallowed by the tenant's unique
            async with view.transaction() as tx:
                await record_noop(tx, key, now)
        assert await tenant_of(raw_db, "outbox", "dedupe_key = $1", key) == [tenant_id]
