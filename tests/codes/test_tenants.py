"""Tenants (issue 18): printed codes are issued into their tenant, and a tenant finds only its
own, on both engines. The look-up by hash reads every tenant's codes (a typed code names no
tenant) and answers the row's tenant; a code of another tenant is no code of this one."""

from __future__ import annotations

from service.codes import logic as codes
from service.codes import queries as q
from service.db.tenant_db import TenantDb
from service.security.tokens import TokenData
from tests.unsubscribe.helpers import add_tenant_contact, counts, tenant_of


async def test_codes_are_found_only_by_their_tenant(client, raw_db, rt):
    one, two = TenantDb(raw_db, 1), TenantDb(raw_db, 2)
    hash_key = rt.settings.hash_key
    issued = {}
    for view, name, channel in ((one, "ann", "post"), (two, "bob", "fax")):
        contact_id, _ = await add_tenant_contact(view, rt, "email", f"{name}@example.com")
        [code] = await codes.issue(view, hash_key, [(contact_id, channel, "*", name)])
        issued[view.tenant_id] = code, TokenData(contact_id, channel, "*", name)
        assert await tenant_of(raw_db, "opt_out_code", "contact_id = $1",
                               contact_id) == [view.tenant_id]
        row = await raw_db.fetchrow(q.FIND, codes.code_hash(hash_key, codes.normalize(code)))
        assert row["tenant_id"] == view.tenant_id

    for own, other in ((one, two), (two, one)):
        code, data = issued[own.tenant_id]
        assert await codes.find(own, hash_key, code) == data
        assert await codes.find(other, hash_key, code) is None

    # tenant 2's code typed on the default tenant's page: unknown there, nothing written
    before = await counts(raw_db)
    page = await client.post("/o", data={"code": issued[2][0]})
    assert page.status_code == 404
    assert await counts(raw_db) == before
