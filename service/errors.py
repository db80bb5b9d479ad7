"""One error shape for the API: {"detail": ..., "errors": [{"field": ..., "message": ...}]}."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from typing import Annotated, TypeVar

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter
from pydantic import BaseModel

from service.db.engine import DatabaseUnavailable

log = logging.getLogger("service.errors")
_TOKEN_PATH = re.compile(r"^/([a-z])/[^/]+")  # recipient pages: /u/<token>, /p/<token>, ...


def loggable_path(request: Request) -> str:
    """The request path with a recipient token replaced: tokens are never logged."""
    return _TOKEN_PATH.sub(r"/\1/<token>", request.url.path)


class InputError(Exception):
    """Bad input found by the logic (not by the schema): answered 422 (or `status`)."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


T = TypeVar("T")
_MISSING_FIELD = re.compile(r"Object missing required field `(.+)`")


def decode_json(decode: Callable[[bytes], T], body: bytes) -> T:
    """A JSON body a handler decodes itself with msgspec (`decode`), or an InputError naming
    the field that is wrong (`addresses[3]`, a missing `channel`); 400 when it is not JSON."""
    try:
        return decode(body)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$")
        field = path.rstrip("`").lstrip(".")
        missing = _MISSING_FIELD.fullmatch(message)
        if missing:
            field, message = ".".join(p for p in (field, missing.group(1)) if p), "is required"
        raise InputError(field or "body", message) from None
    except msgspec.DecodeError as exc:
        raise InputError("body", f"is not valid JSON: {exc}", status=400) from None


class Conflict(InputError):
    def __init__(self, field: str, message: str):
        super().__init__(field, message, status=409)


class NotFound(InputError):
    def __init__(self, field: str, message: str):
        super().__init__(field, message, status=404)


async def refuse_nul(request: Request) -> None:
    """No field accepts a NUL character: refuse it up front, the same on both engines
    (PostgreSQL cannot store it, SQLite would)."""
    if b"%00" in request.scope.get("query_string", b""):
        raise InputError("query", "contains a NUL character (%00), which no parameter accepts")
    if request.route_handler.request_max_body_size is None:
        return  # it reads its own body, bounded (the bulk check); reading it here had no limit
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get(
            "content-type", ""):
        if b"\\u0000" in await request.body():
            raise InputError("body", "contains a NUL character (\\u0000), which no field accepts")


# Numbers wider than their column are refused as input (422), not failed on by the driver
MAX_INT64 = 2**63 - 1  # BIGINT: sequence numbers, ledger ids
# The bound to document for such ids: JSON readers (and schema validators) compare numbers as
# doubles, which hold every integer up to 2**53 exactly; 2**63 - 1 reads as 2**63, so values
# above the real limit looked schema-valid. Ids never come near either.
MAX_JSON_INT = 2**53
RowId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]  # SERIAL ids (api keys, webhooks)


def error_body(detail: str, errors: list[dict] | None = None) -> dict:
    return {"detail": detail, "errors": errors or []}


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """The one error shape, as the OpenAPI schema documents it."""

    detail: str
    errors: list[ErrorItem]


_ERRORS = {400: "Malformed request (not JSON, not a form)",
           401: "Missing, wrong or revoked API key",
           403: "The API key lacks the scope", 404: "Not found", 409: "Conflict",
           413: "Body or bulk request over the limit", 415: "Unsupported content type",
           422: "Invalid input; `errors` names the fields", 429: "Rate limited (Retry-After)",
           503: "Database unavailable; nothing was done (Retry-After)"}
# Every /v1 operation may answer these (documented on each by create_app)
ERROR_RESPONSES = {code: ResponseSpec(ErrorBody, description=text, generate_examples=False)
                   for code, text in _ERRORS.items()}


def _field(item: dict) -> str:
    """The name the caller used: a body field path, or a query/path/header parameter name."""
    return str(item.get("key") or "body")


_MISSING = re.compile(r"Missing required (?P<kind>query|header|cookie) parameter '(?P<name>[^']+)'")


def validation_handler(_: Request, exc: ValidationException) -> Response:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        {"field": _field(item), "message": str(item.get("message", ""))}
        for item in extra
        if isinstance(item, dict)
    ]
    missing = _MISSING.match(str(exc.detail))
    if missing and not errors:  # named like the hand-parsed check route names it
        errors = [{"field": f"{missing['kind']}.{missing['name']}", "message": "is required"}]
    # a body that is not JSON at all is a 400; a body of the wrong shape is a 422
    status = 422 if errors else 400
    detail = "Invalid request: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors) \
        if errors else str(exc.detail)
    return Response(error_body(detail, errors), status_code=status, media_type=MediaType.JSON)


def input_error_handler(_: Request, exc: InputError) -> Response:
    return Response(
        error_body(f"{exc.field}: {exc.message}", [{"field": exc.field, "message": exc.message}]),
        status_code=exc.status,
        media_type=MediaType.JSON,
    )


def http_error_handler(_: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    if exc.status_code == 429 and "Retry-After" not in headers:
        # Litestar's rate limiter tells the reset time in RateLimit-Reset; clients expect this.
        headers["Retry-After"] = str(headers.get("RateLimit-Reset", 60))
    return Response(
        error_body(str(exc.detail)), status_code=exc.status_code, media_type=MediaType.JSON,
        headers=headers,
    )


def unavailable_handler(request: Request, exc: Exception) -> Response:
    log.error("database unavailable on %s %s: %s", request.method, loggable_path(request),
              type(exc).__name__)
    return Response(
        error_body("The database is unavailable; nothing was done. Retry shortly."),
        status_code=503, media_type=MediaType.JSON, headers={"Retry-After": "5"},
    )


def is_database_error(exc: BaseException) -> bool:
    """Connection-level database failures (not constraint errors)."""
    if isinstance(exc, DatabaseUnavailable | ConnectionError | OSError | TimeoutError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        # the file is locked, missing, unreadable or the disk failed; not an SQL mistake
        message = str(exc).lower()
        return any(part in message for part in (
            "locked", "unable to open", "disk i/o", "readonly", "no such table", "malformed"))
    try:
        import asyncpg  # PostgreSQL's driver: a SQLite-only deployment never loads it

        return isinstance(
            exc,
            asyncpg.exceptions.PostgresConnectionError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.CannotConnectNowError
            | asyncpg.exceptions.AdminShutdownError,
        )
    except ImportError:  # pragma: no cover
        return False


def _is_bad_text(exc: BaseException) -> bool:
    """Text PostgreSQL cannot store (a NUL character, invalid encoding): the caller's input."""
    try:
        import asyncpg  # PostgreSQL's driver: a SQLite-only deployment never loads it

        return isinstance(exc, asyncpg.exceptions.CharacterNotInRepertoireError
                          | asyncpg.exceptions.UntranslatableCharacterError)
    except ImportError:  # pragma: no cover
        return False


def internal_error_handler(request: Request, exc: Exception) -> Response:
    if is_database_error(exc):
        return unavailable_handler(request, exc)
    if _is_bad_text(exc) or isinstance(exc, UnicodeEncodeError):
        message = "contains a NUL character or text that cannot be stored"
        return Response(error_body(f"Invalid request: {message}",
                                   [{"field": "body", "message": message}]),
                        status_code=422, media_type=MediaType.JSON)
    log.exception("unhandled error on %s %s", request.method, loggable_path(request))
    return Response(error_body("Internal error"), status_code=500, media_type=MediaType.JSON)


EXCEPTION_HANDLERS = {
    ValidationException: validation_handler,
    InputError: input_error_handler,
    HTTPException: http_error_handler,
    DatabaseUnavailable: unavailable_handler,
    500: internal_error_handler,
}
