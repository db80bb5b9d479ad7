"""Tenants (issue 18): a tenant's consent records and receipts are built from its own ledger,
preferences and wordings only, on both engines.

Until migration T2 drops the old uniques, two tenants cannot hold the same wording key, so each
tenant gets a wording of its own here.
"""

from __future__ import annotations

import pytest

from service.db.tenant_db import TenantDb
from service.errors import NotFound
from service.records import logic
from service.records import queries as q
from service.topics.cache import TopicCache
from tests.unsubscribe.helpers import add_tenant_contact, add_tenant_event, add_tenant_preference


async def test_records_read_only_their_tenants_rows(raw_db, rt, settings):
    one, two = TenantDb(raw_db, 1), TenantDb(raw_db, 2)
    people = {}
    for view, name in ((one, "ann"), (two, "bob")):
        contact_id, _ = await add_tenant_contact(view, rt, "email", f"{name}@example.com")
        await add_tenant_preference(view, contact_id, "email", "", "opted_in")
        wording = f"{name}-signup-v1"
        event_id = await add_tenant_event(view, contact_id, "email", "", "opt_in",
                                          (wording, f"Yes, {name}."))
        people[view.tenant_id] = (contact_id, event_id, wording)

    for own, other in ((one, two), (two, one)):
        contact_id, event_id, wording = people[own.tenant_id]
        assert [e.id for e in await logic.opt_ins(own, TopicCache(), contact_id)] == [event_id]
        assert await logic.opt_ins(other, TopicCache(), contact_id) == []
        for sql, args in ((q.EVENTS, ()), (q.PREFERENCES, ()), (q.EVENT, (event_id,))):
            args = (*args, contact_id)
            assert len(await own.fetch(sql, *args)) == 1
            assert await other.fetch(sql, *args) == []
        assert list(await logic._wordings(own, {wording})) == [wording]
        assert await logic._wordings(other, {wording}) == {}

        receipt = await logic.consent_receipt(own, TopicCache(), settings, contact_id, event_id)
        assert receipt["piiPrincipalId"] == contact_id
        with pytest.raises(NotFound):
            await logic.consent_receipt(other, TopicCache(), settings, contact_id, event_id)
