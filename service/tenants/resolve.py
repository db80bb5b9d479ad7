"""Which tenant a request acts in, from the one source each kind of request has
(docs/ARCHITECTURE.md, "Tenants"): /v1 from its API key (set by ApiKeyMiddleware, an operator
key's X-Tenant included); a recipient link from the prefix of its token; anything else, the
default tenant. A token naming a tenant this deployment does not have is read as the default
tenant's, whose signer then refuses it (the invalid-link page), so a forged prefix never
builds a view."""

from __future__ import annotations

from typing import Any

from service.apikeys.guard import TENANT_STATE_KEY
from service.security.tokens import BadToken, tenant_of
from service.tenants.model import DEFAULT_TENANT_ID


def request_tenant(scope: Any) -> int:
    """The tenant id of a request (an ASGI scope, or a request)."""
    scope = getattr(scope, "scope", scope)
    tenant_id = scope.get("state", {}).get(TENANT_STATE_KEY)
    if tenant_id is not None:
        return tenant_id
    token = scope.get("path_params", {}).get("token")
    if not token:
        return DEFAULT_TENANT_ID
    try:
        tenant_id = tenant_of(token)
    except BadToken:
        return DEFAULT_TENANT_ID
    if tenant_id == DEFAULT_TENANT_ID:
        return tenant_id
    tenants = scope["litestar_app"].state.rt.tenants
    return tenant_id if tenants.get(tenant_id) is not None else DEFAULT_TENANT_ID


def request_runtime(scope: Any) -> Any:
    """The runtime as the request's tenant sees it (a kept view: one dict look-up)."""
    scope = getattr(scope, "scope", scope)
    return scope["litestar_app"].state.rt.for_tenant(request_tenant(scope))
