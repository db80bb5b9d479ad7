"""The suppression API for mailers: checks, the list and its change feed, adds and removals."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from litestar import MediaType, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.types import ASGIApp

from service.apikeys.guard import acting_key_id
from service.errors import InputError
from service.runtime import RT
from service.suppression import feed, lists, logic, stream
from service.suppression.check import JSONAnswer, check_one, read_check_query
from service.suppression.schemas import (
    BULK_CHECK_REQUEST,
    CHECK_QUERY,
    BulkCheckResult,
    Channel,
    CheckResult,
    ExternalListInfo,
    FeedPage,
    Reason,
    SuppressionAdd,
    SuppressionAddResult,
    SuppressionRemoved,
)
from service.tenants.resolve import request_runtime

READ = {"scope": "suppressions:read"}
WRITE = {"scope": "suppressions:write"}
TAGS = ["suppressions"]
NDJSON = "application/x-ndjson"
_TEXT_TYPES = ("text/plain", NDJSON, "application/jsonl", "application/x-jsonlines")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class _CheckOperation(Operation):
    """The query parameters the hot-path handler reads itself, from `CHECK_QUERY`: the same
    declaration `read_check_query` parses (tests/suppression/test_check_declaration.py)."""

    def __post_init__(self) -> None:
        self.parameters = [param.openapi() for param in CHECK_QUERY]


@get("/suppressions/check", operation_id="checkSuppression",
     opt=READ, tags=TAGS, summary="Check one address",
     operation_class=_CheckOperation,
     responses={200: ResponseSpec(CheckResult, description="The send decision",
                                  generate_examples=False)})
async def check(request: Request) -> ASGIApp:
    """May this address be sent `topic` (absent: anything marketing) on `channel`?

    `channel` and `address` are required; `address` may be the 64-hex address key. Bad input
    is 422. The hot path: it reads the query itself and answers with finished JSON bytes,
    skipping Litestar's parameter parsing, dependency injection and response building (the
    OpenAPI operation comes from `CHECK_QUERY`, the declaration the parser reads).
    """
    channel, address, topic = read_check_query(request.query_params)
    body = await check_one(request_runtime(request.scope), channel, address, topic, request)
    return JSONAnswer(body)


@dataclass
class _BulkCheckOperation(Operation):
    """The three body formats the handler reads itself; the JSON one is `BulkCheckRequest`,
    the struct its decoder reads."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING, description="One address or address key a line.")
        self.request_body = RequestBody(required=True, content={
            "application/json": OpenAPIMediaType(schema=BULK_CHECK_REQUEST),
            "text/plain": OpenAPIMediaType(schema=text),
            NDJSON: OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.STRING, description="One JSON string a line.")),
        })
        if self.responses and "200" in self.responses:  # a text body is answered line by line
            self.responses["200"].content[NDJSON] = OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.STRING, description="One JSON object a line, then a summary "
                                                     "line (docs/suppression.md)."))


@post("/suppressions/check", operation_id="checkSuppressions",
      opt=READ, tags=TAGS, status_code=200, summary="Check many",
      operation_class=_BulkCheckOperation, request_max_body_size=None,
      responses={200: ResponseSpec(BulkCheckResult, description=(
          "JSON body: addresses not listed in `blocked` or `invalid` are allowed. A text or "
          "NDJSON body is answered as application/x-ndjson, line by line (docs/suppression.md)."
      ), generate_examples=False)})
async def check_many(
    rt: RT, request: Request,
    channel: FromQuery[Channel | None] = None, topic: FromQuery[str | None] = None,
    every_line: Annotated[bool, QueryParameter(name="all", description=(
        "streamed form: a line for every address, allowed ones too"))] = False,
) -> Response[BulkCheckResult]:
    """The send decision for up to BULK_MAX_ITEMS addresses as JSON, or for any number as
    newline-delimited text streamed in and out (`channel`, `topic` and `all` in the query)."""
    content_type = request.headers.get("content-type", "application/json")
    media = content_type.split(";", 1)[0].strip().lower()
    fresh = await rt.read_fresh(request)
    if media in _TEXT_TYPES:
        topic_info = await stream.prepare_stream(rt, channel, topic)
        return stream.DuplexStream(stream.check_stream(rt, request, channel, topic_info,
                                          ndjson=media != "text/plain", every_line=every_line,
                                          fresh=fresh),
                      media_type=NDJSON)
    if media not in ("application/json", ""):
        raise InputError("content-type", f"{media} is not accepted; send application/json, "
                         "text/plain or application/x-ndjson", status=415)
    body = await stream.read_body(request, rt.settings.max_body_bytes)
    return Response(await stream.check_json(rt, body, fresh), media_type=MediaType.JSON)


@get("/suppressions", operation_id="listSuppressions",
     opt=READ, tags=TAGS, summary="List suppressions and follow changes",
     responses={200: ResponseSpec(FeedPage, description="A page of the listing",
                                  generate_examples=False)})
async def list_suppressions(
    rt: RT,
    request: Request,
    cursor: FromQuery[str | None] = None,
    channel: FromQuery[Channel | None] = None,
    reason: FromQuery[Reason | None] = None,
    topic: Annotated[str | None, QueryParameter(
        description="A topic key; empty: whole-channel suppressions only")] = None,
    since: FromQuery[datetime | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=feed.MAX_LIMIT)] = 1000,
) -> Response[FeedPage]:
    """Without `cursor`: the suppressions in force, then every change after them; with `since`:
    the changes from that time. Follow `next_cursor` for ever to keep a mirror: each change
    comes once, in order. Entries carry the address key, never the address."""
    if since is not None and not _ISO_DATE.match(request.query_params.get("since", "")):
        # the parser would also take a bare number as seconds since 1970
        raise InputError("since", "give an ISO 8601 time, like 2026-01-05T09:00:00Z")
    return Response(await feed.read_page(rt.db, cursor=cursor, channel=channel, reason=reason,
                                         topic=topic, since=since, limit=limit),
                    media_type=MediaType.JSON)


@post("/suppressions", operation_id="addSuppressions",
      opt=WRITE, tags=TAGS, status_code=200, summary="Add suppressions")
async def add_suppressions(
    rt: RT, request: Request, data: JSONBody[SuppressionAdd],
) -> SuppressionAddResult:
    """Suppress up to BULK_MAX_ITEMS addresses (or address keys). Any invalid address: 422
    listing them, nothing written. Existing suppressions are counted in `already`."""
    added, already = await logic.add_many(
        rt, channel=data.channel, reason=data.reason, source=data.source,
        addresses=data.addresses, topic=data.topic, list_name=data.list_name,
        api_key_id=acting_key_id(request))
    return SuppressionAddResult(added=added, already=already)


@delete("/suppressions/{channel:str}/{address:str}", operation_id="removeSuppression",
        opt=WRITE, tags=TAGS, status_code=200,
        summary="Lift a suppression")
async def remove_suppression(
    rt: RT, request: Request, channel: FromPath[Channel], address: FromPath[str],
    reason: FromQuery[Reason], topic: FromQuery[str | None] = None,
    note: Annotated[str | None, QueryParameter(max_length=500)] = None,
) -> SuppressionRemoved:
    """Lift the `reason` suppression of an address (or address key), recorded in the change
    feed and, when a contact holds the address, in the ledger. `complaint` and `erased`: 409."""
    key, remaining = await logic.remove_one(
        rt, channel=channel, address=address, reason=reason, topic=topic or None, note=note,
        api_key_id=acting_key_id(request))
    return SuppressionRemoved(
        channel=channel, address_key=key, topic=topic or None, reason=reason,
        remaining=[{"topic": t, "reason": r} for t, r in remaining])


@get("/external-lists", operation_id="listExternalLists", opt=READ, tags=TAGS,
     summary="List the national do-not-call lists and their dates")
async def list_external_lists(rt: RT) -> list[ExternalListInfo]:
    """Each list's last snapshot import: its date, size and maximum age (a list past it
    blocks marketing checks on its channel, docs/channels.md)."""
    return [ExternalListInfo(name=x.name, channel=x.channel, as_of=x.as_of, size=x.size,
                             max_age_days=x.max_age_days)
            for x in await lists.all_lists(rt.db, rt.settings.external_list_max_age_days)]


api_routes = [check, check_many, list_suppressions, add_suppressions, remove_suppression,
              list_external_lists]
page_routes: list = []
