"""Authentication of /v1: a valid, unrevoked API key with the handler's scope.

Handlers declare `opt={"scope": ...}`; a handler that names none is admin-only, and handlers
with `opt={"public_webhook": True}` (ESP webhooks) verify the provider's signature instead.
This is an ASGI middleware on the /v1 router rather than a Litestar guard because Litestar
copies the route handler object for every guard call, a measurable share of a check's cost.
The key it accepted is kept on the request's state, and `acting_key(request)` is the one way
to read it back (the ledger's `api_key_id`, read-your-writes, the erasure's source).
"""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.apikeys.logic import ApiKeyInfo

_SAFE = ("GET", "HEAD", "OPTIONS")
_STATE_KEY = "api_key"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


def bearer_token(scope: Scope) -> str:
    """The bearer token from the raw headers, or ''."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
            return ""
    return ""


def acting_key(request: Any) -> ApiKeyInfo | None:
    """The API key this request was authenticated with; None outside /v1 (recipient pages,
    public webhooks). Reads the scope state directly: the hot check path calls it too."""
    return request.scope.get("state", {}).get(_STATE_KEY)


def acting_key_id(request: Any) -> int | None:
    """The id of the acting API key (the ledger's `api_key_id`); None without one."""
    key = acting_key(request)
    return key.id if key is not None else None


class ApiKeyMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        opt = scope["route_handler"].opt
        if not opt.get("public_webhook"):
            await authenticate(scope, opt.get("scope", "admin"))
        await next_app(scope, receive, send)


async def authenticate(scope: Scope, required: str) -> None:
    token = bearer_token(scope)
    if not token:
        raise NotAuthorizedException("Missing API key: send Authorization: Bearer <key>",
                                     headers=_CHALLENGE)
    rt = scope["litestar_app"].state.rt
    info = await rt.api_keys.verify(rt.db, token)
    if info is None:
        raise NotAuthorizedException("Invalid or revoked API key", headers=_CHALLENGE)
    if not info.allows(required):
        raise PermissionDeniedException(f"This API key lacks the '{required}' scope")
    scope.setdefault("state", {})[_STATE_KEY] = info
    if (rt.db.replicas is not None and scope["method"] not in _SAFE
            and not scope["path"].endswith("/check")):
        await rt.recent_writers.mark(info.id)
