"""`POST /v1/sends`: mailers record what they sent, for frequencies and weekly caps."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import MediaType, Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody

from service.runtime import RT
from service.sends import logic
from service.sends.schemas import SENDS_REQUEST, SendsResult
from service.suppression.stream import read_body

# The key that asks the check before sending records the send after it: recording can only
# make later checks stricter, never let anything through (docs/consent.md).
SCOPE = {"scope": "suppressions:read"}


@dataclass
class _SendsOperation(Operation):
    """The JSON body the handler decodes itself, documented from `SendsRequest`."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={
            "application/json": OpenAPIMediaType(schema=SENDS_REQUEST)})


@post("/sends", operation_id="recordSends", opt=SCOPE, tags=["sends"], status_code=200,
      summary="Record sent messages", operation_class=_SendsOperation,
      request_max_body_size=None,
      responses={200: ResponseSpec(SendsResult, description="How many sends were recorded",
                                   generate_examples=False)})
async def record_sends(rt: RT, request: Request) -> Response[SendsResult]:
    """The messages of one topic that went out to up to BULK_MAX_ITEMS addresses (or address
    keys), at `sent_at` (absent: now): what a person's frequency and weekly cap count in the
    checks. Invalid addresses are listed and the others recorded; an unknown topic, a topic
    not used on the channel or a `sent_at` out of range is a 422 and nothing is written."""
    body = await read_body(request, rt.settings.max_body_bytes)
    return Response(await logic.record_sends(rt, body), media_type=MediaType.JSON)


api_routes = [record_sends]
page_routes: list = []
