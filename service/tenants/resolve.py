"""Which tenant a request acts in, from the one source each kind of request has
(docs/ARCHITECTURE.md, "Tenants"): /v1 from its API key (set by ApiKeyMiddleware, an operator
key's X-Tenant included; Host plays no part); a recipient link from the prefix of its token;
a provider's webhook (ESP events, inbound SMS) from the tenant slug in its URL
(`/v1/webhooks/{provider}/{slug}`, `runtime_of_slug`; that tenant's own provider secrets verify
it, service/tenants/secrets.py); a page without a token (`/p`, `/o`, `/brand.css`) from its
`Host` header, when a tenant lists that host name among its domains (HostTenantMiddleware);
anything else, the default tenant. A token's tenant is read from its prefix before the token is
verified, by that tenant's own signer: a prefix changed to another tenant, or to one that does
not exist, fails there (the invalid-link page). A tenant created moments ago in another process
has its view (its signer) at once, and its branding once this process's registry has read it
(TENANT_CACHE_SECONDS)."""

from __future__ import annotations

from typing import Any

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.apikeys.guard import TENANT_STATE_KEY
from service.errors import NotFound
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
        return tenant_of(token)
    except BadToken:
        return DEFAULT_TENANT_ID


def request_runtime(scope: Any) -> Any:
    """The runtime as the request's tenant sees it (a kept view: one dict look-up)."""
    scope = getattr(scope, "scope", scope)
    return scope["litestar_app"].state.rt.for_tenant(request_tenant(scope))


async def runtime_of_slug(rt: Any, slug: str) -> Any:
    """The runtime as the tenant with this slug sees it (a webhook URL's tenant); 404 for a
    slug no tenant has, as for any unknown path."""
    tenant = await rt.tenants.find(rt.db, slug=slug)
    if tenant is None:
        raise NotFound("tenant", "no tenant with this slug")
    return rt.for_tenant(tenant.id)


def host_header(scope: Scope) -> str:
    """The request's `Host` header as sent, or ''. Only `Host`: X-Forwarded-Host is not read
    (no setting says which proxies to believe; a proxy passes the Host on: DEPLOY.md)."""
    for name, value in scope["headers"]:
        if name == b"host":
            return value.decode("latin-1")
    return ""


class HostTenantMiddleware(ASGIMiddleware):
    """The recipient pages' router: a page without a token acts in the tenant whose domains
    hold the request's host name, or in the default tenant when none does (a single-tenant
    deployment, its own host). A page with a token keeps the token's tenant, whatever the
    host. Host is the client's to choose, so it selects and grants nothing more than the
    tenant's page: `/p` mails a link only to an address that tenant knows, and `/o` acts only
    on a code that tenant issued (whoever holds the code, on whichever host it is typed).
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not scope.get("path_params", {}).get("token"):
            host = host_header(scope)
            if host:
                rt = scope["litestar_app"].state.rt
                tenant = await rt.tenants.find_host(rt.db, host)
                if tenant is not None:
                    scope.setdefault("state", {})[TENANT_STATE_KEY] = tenant.id
        await next_app(scope, receive, send)
