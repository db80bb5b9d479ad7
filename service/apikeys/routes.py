"""Managing API keys (admin scope): a tenant's admin manages its own tenant's keys."""

from __future__ import annotations

from litestar import Request, delete, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import JSONBody

from service.apikeys.guard import acting_key
from service.apikeys.logic import (
    OPERATOR,
    ScopeError,
    create_api_key,
    list_api_keys,
    parse_scopes,
    revoke_api_key,
)
from service.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from service.errors import InputError, NotFound, RowId
from service.runtime import RT

ADMIN = {"scope": "admin"}


@post("/api-keys", operation_id="createApiKey", opt=ADMIN, tags=["api keys"])
async def create_key(rt: RT, request: Request, data: JSONBody[ApiKeyCreate]) -> ApiKeyCreated:
    """Create a key of this tenant; its secret is in the answer and nowhere else. Only an
    operator key may create another (a tenant's admin manages that tenant alone)."""
    try:
        scopes = parse_scopes(" ".join(data.scopes))
    except ScopeError as exc:
        raise InputError("scopes", str(exc)) from None
    key = acting_key(request)
    if OPERATOR in scopes and (key is None or not key.is_operator):
        raise PermissionDeniedException("Only an operator key may create an operator key")
    key_id, secret = await create_api_key(rt.db, data.name, scopes)
    return ApiKeyCreated(id=key_id, name=data.name, scopes=scopes, key=secret)


@get("/api-keys", operation_id="listApiKeys", opt=ADMIN, tags=["api keys"])
async def list_keys(rt: RT) -> list[ApiKeyOut]:
    return [ApiKeyOut(**row) for row in await list_api_keys(rt.db)]


@delete("/api-keys/{key_id:int}", operation_id="revokeApiKey",
        opt=ADMIN, tags=["api keys"], status_code=204)
async def revoke_key(rt: RT, key_id: RowId) -> None:
    """Revoke a key; it stops working at once."""
    if not await revoke_api_key(rt.db, key_id, rt.api_keys):
        raise NotFound("key_id", "no active key with this id")


api_routes = [create_key, list_keys, revoke_key]
