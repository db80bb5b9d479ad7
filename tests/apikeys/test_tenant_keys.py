"""API keys belong to a tenant: a key lists and revokes its own tenant's keys only, and
another tenant's key id answers 404 exactly as an unknown one."""

from __future__ import annotations

from service.apikeys.logic import (
    ApiKeyCache,
    ApiKeyInfo,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from service.db.tenant_db import TenantDb
from service.tenants.resolve import request_tenant


async def test_a_tenants_key_sees_and_revokes_only_its_tenants_keys(
        client, db, admin_headers, headers_b, tenant_b):
    made = await client.post("/v1/api-keys", headers=admin_headers,
                             json={"name": "a-crm", "scopes": ["contacts:read"]})
    a_key = made.json()
    a_headers = {"Authorization": f"Bearer {a_key['key']}"}
    listed = await client.get("/v1/api-keys", headers=headers_b)
    assert [k["name"] for k in listed.json()] == ["b-admin"]
    assert {k["name"] for k in (await client.get("/v1/api-keys", headers=admin_headers)
                                ).json()} == {"test-admin", "a-crm"}

    foreign = await client.delete(f"/v1/api-keys/{a_key['id']}", headers=headers_b)
    unknown = await client.delete("/v1/api-keys/999999", headers=headers_b)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    # still live
    assert (await client.get("/v1/topics", headers=a_headers)).status_code == 200
    assert (await db.fetchval("SELECT revoked_at FROM api_key WHERE id = $1", a_key["id"])
            ) is None


async def test_key_statements_stay_in_their_tenant(raw_db, db):
    """Straight through the statements, on both engines: tenant 2's rows are invisible to and
    untouched by tenant 1's operations, and the other way round."""
    two = TenantDb(raw_db, 2)
    id_one, _ = await create_api_key(db, "one", ["admin"])
    id_two, raw_two = await create_api_key(two, "two", ["admin"])
    assert [k["name"] for k in await list_api_keys(db)] == ["one"]
    assert [k["name"] for k in await list_api_keys(two)] == ["two"]
    assert not await revoke_api_key(db, id_two)
    assert not await revoke_api_key(two, id_one)
    rows = await raw_db.fetch("SELECT id, tenant_id, revoked_at FROM api_key ORDER BY id")
    assert [(r["id"], r["tenant_id"], r["revoked_at"]) for r in rows] == [
        (id_one, 1, None), (id_two, 2, None)]
    assert await revoke_api_key(two, id_two)
    assert [k["revoked_at"] is not None for k in await list_api_keys(two)] == [True]


async def test_a_key_acts_in_its_own_tenant(app, client, db, headers_b, tenant_b):
    """The key's tenant comes with its look-up, and the handlers get that tenant's view."""
    info = await ApiKeyCache(0).verify(db, headers_b["Authorization"].split()[1])
    assert info.tenant_id == tenant_b.id and not info.is_operator
    assert request_tenant({"state": {"tenant_id": tenant_b.id}}) == tenant_b.id
    assert request_tenant({}) == 1
    assert (await client.get("/v1/api-keys", headers=headers_b)).status_code == 200
    view = app.state.rt.for_tenant(tenant_b.id)
    assert view.tenant.slug == "b" and view.settings.org_name == "Brand B"
    assert app.state.rt.views[tenant_b.id] is view  # the view the request used, kept


def test_operator_is_granted_by_nothing_else():
    admin = ApiKeyInfo(1, "a", frozenset({"admin"}))
    operator = ApiKeyInfo(2, "o", frozenset({"operator"}))
    assert admin.allows("contacts:read") and not admin.allows("operator")
    assert operator.allows("operator") and operator.allows("admin") and operator.is_operator
