"""The operator's tenants API: scope `operator`, no X-Tenant (it is about tenants themselves)."""

from __future__ import annotations

from litestar import get, patch, post
from litestar.params import FromPath, JSONBody

from service.runtime import RT
from service.tenants import logic
from service.tenants.schemas import TenantCreate, TenantOut, TenantUpdate

OPERATOR = {"scope": "operator", "tenantless": True}
TAGS = ["tenants"]


@post("/tenants", operation_id="createTenant", opt=OPERATOR, tags=TAGS, status_code=201,
      summary="Create a tenant")
async def create_tenant(rt: RT, data: JSONBody[TenantCreate]) -> TenantOut:
    """A new tenant; 409 when the slug is taken, 422 naming a setting that is not allowed."""
    return TenantOut(**await logic.create_tenant(
        rt.db, rt.tenants, data.slug, data.name, data.controller_group,
        data.settings.overrides(), data.domains))


@get("/tenants", operation_id="listTenants", opt=OPERATOR, tags=TAGS, summary="List tenants")
async def list_tenants(rt: RT) -> list[TenantOut]:
    return [TenantOut(**t) for t in await logic.list_tenants(rt.db)]


@get("/tenants/{slug:str}", operation_id="getTenant", opt=OPERATOR, tags=TAGS,
     summary="Read a tenant")
async def get_tenant(rt: RT, slug: FromPath[str]) -> TenantOut:
    return TenantOut(**await logic.get_tenant(rt.db, slug))


@patch("/tenants/{slug:str}", operation_id="updateTenant", opt=OPERATOR, tags=TAGS,
       summary="Update a tenant")
async def update_tenant(rt: RT, slug: FromPath[str], data: JSONBody[TenantUpdate]) -> TenantOut:
    """Change the name, controller group, settings (merged; null unsets one) or domains."""
    changes = data.model_dump(exclude_unset=True)
    return TenantOut(**await logic.update_tenant(rt.db, rt.tenants, slug, changes))


api_routes = [create_tenant, list_tenants, get_tenant, update_tenant]
