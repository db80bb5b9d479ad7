"""Authentication of /v1: a valid, unrevoked API key with the handler's scope, and the tenant
the request acts in.

Handlers declare `opt={"scope": ...}`; a handler that names none is admin-only, and handlers
with `opt={"public_webhook": True}` (ESP webhooks) verify the provider's signature instead.
This is an ASGI middleware on the /v1 router rather than a Litestar guard because Litestar
copies the route handler object for every guard call, a measurable share of a check's cost.
The key it accepted is kept on the request's state, and `acting_key(request)` is the one way
to read it back (the ledger's `api_key_id`, read-your-writes, the erasure's source).

The tenant (issue 18) is the key's own. An `operator` key names the tenant it acts in with
`X-Tenant: <slug>` on every route but the tenant routes (`opt={"tenantless": True}`); another
key may send `X-Tenant` only with its own tenant's slug. The tenant's id is kept on the state
too, and `service.tenants.resolve.request_tenant(scope)` reads it back (the `rt` provider of
service/app.py).
"""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.apikeys.logic import ApiKeyInfo
from service.errors import InputError, NotFound
from service.tenants.model import DEFAULT_TENANT_ID

_SAFE = ("GET", "HEAD", "OPTIONS")
_STATE_KEY = "api_key"
TENANT_STATE_KEY = "tenant_id"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}
TENANT_HEADER = "X-Tenant"


def bearer_token(scope: Scope) -> str:
    """The bearer token from the raw headers, or ''."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
            return ""
    return ""


def _credentials(scope: Scope) -> tuple[str, str | None]:
    """(the bearer token or '', the X-Tenant header or None), in one pass over the headers."""
    token, tenant = "", None
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                token = text[7:].strip()
        elif name == b"x-tenant":
            tenant = value.decode("latin-1").strip()
    return token, tenant


def acting_key(request: Any) -> ApiKeyInfo | None:
    """The API key this request was authenticated with; None outside /v1 (recipient pages,
    public webhooks). Reads the scope state directly: the hot check path calls it too."""
    return request.scope.get("state", {}).get(_STATE_KEY)


def acting_key_id(request: Any) -> int | None:
    """The id of the acting API key (the ledger's `api_key_id`); None without one."""
    key = acting_key(request)
    return key.id if key is not None else None


class ApiKeyMiddleware(ASGIMiddleware):
    def __init__(self, tenant_limit: Any = None):
        # the per-tenant rate limit (security/ratelimit.py TenantRateLimit): it needs the
        # tenant, which only authentication tells
        self.tenant_limit = tenant_limit

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        opt = scope["route_handler"].opt
        if not opt.get("public_webhook"):
            await authenticate(scope, opt.get("scope", "admin"), opt.get("tenantless", False))
            tenant_id = scope["state"][TENANT_STATE_KEY]
            if self.tenant_limit is not None and tenant_id != DEFAULT_TENANT_ID:
                rt = scope["litestar_app"].state.rt
                await self.tenant_limit.check(scope, rt.tenants.get(tenant_id))
        await next_app(scope, receive, send)


async def authenticate(scope: Scope, required: str, tenantless: bool = False) -> None:
    token, named = _credentials(scope)
    if not token:
        raise NotAuthorizedException("Missing API key: send Authorization: Bearer <key>",
                                     headers=_CHALLENGE)
    rt = scope["litestar_app"].state.rt
    info = await rt.api_keys.verify(rt.db, token)
    if info is None:
        raise NotAuthorizedException("Invalid or revoked API key", headers=_CHALLENGE)
    tenant_id = info.tenant_id
    if info.is_operator and not tenantless:
        # an operator acts as admin inside the tenant it names, and only there
        if not named:
            raise InputError(TENANT_HEADER, "an operator key names the tenant it acts on: "
                             "send X-Tenant: <tenant slug>", status=400)
        tenant = await rt.tenants.find(rt.db, slug=named)
        if tenant is None:
            raise NotFound(TENANT_HEADER, f"no tenant with the slug {named!r}")
        tenant_id = tenant.id
    elif not info.allows(required):
        raise PermissionDeniedException(f"This API key lacks the '{required}' scope")
    elif named is not None and not tenantless:
        own = await rt.tenants.find(rt.db, tenant_id=tenant_id)
        if own is None or own.slug != named:
            raise PermissionDeniedException(
                "X-Tenant names another tenant; this API key acts only in its own"
                + (f" ({own.slug!r})" if own is not None else ""))
    if tenant_id != DEFAULT_TENANT_ID:
        # known (a tenant created by another process is read now) and recent (its settings)
        await rt.tenants.find(rt.db, tenant_id=tenant_id)
    state = scope.setdefault("state", {})
    state[_STATE_KEY] = info
    state[TENANT_STATE_KEY] = tenant_id
    if (rt.db.replicas is not None and scope["method"] not in _SAFE
            and not scope["path"].endswith("/check")):
        await rt.recent_writers.mark(info.id)
