"""Tenants (issue 18): a confirmation link's target, its pending topics and their wording are
read from the link's tenant only, on both engines."""

from __future__ import annotations

from service.db.tenant_db import TenantDb
from service.security.tokens import TokenData
from service.subscriptions import logic
from service.subscriptions import queries as q
from tests.unsubscribe.helpers import add_tenant_contact, add_tenant_event, add_tenant_preference


async def test_confirmation_targets_are_read_only_in_their_tenant(raw_db, rt):
    one, two = TenantDb(raw_db, 1), TenantDb(raw_db, 2)
    signed_up = {}
    for view, name in ((one, "ann"), (two, "bob")):
        contact_id, key = await add_tenant_contact(view, rt, "email", f"{name}@example.com")
        await add_tenant_preference(view, contact_id, "email", "events", "pending")
        await add_tenant_event(view, contact_id, "email", "events", "pending",
                               (f"{name}-signup-v1", "Yes."))
        address_id = await view.fetchval(q.ADDRESS_ID, "email", key)
        assert address_id is not None
        signed_up[view.tenant_id] = (contact_id, key, address_id, name)

    for own, other in ((one, two), (two, one)):
        contact_id, key, address_id, name = signed_up[own.tenant_id]
        data = TokenData(contact_id, "email", "*", "", extra=str(address_id))
        target = await logic.load_target(own, {}, data)
        assert target is not None and target.address_key == key
        assert await logic.load_target(other, {}, data) is None
        assert await other.fetchval(q.ADDRESS_ID, "email", key) is None
        assert await other.fetchval(q.ADDRESS_TEXT, address_id) is None
        assert [r[0] for r in await own.fetch(q.PENDING_TOPICS, contact_id, "email")] == [
            "events"]
        assert await other.fetch(q.PENDING_TOPICS, contact_id, "email") == []
        for view, wording in ((own, f"{name}-signup-v1"), (other, None)):
            async with view.transaction() as tx:
                assert await logic._pending_wording(tx, contact_id, "email", "events") == wording
