"""The shapes of `POST /v1/sends`: decoded by msgspec straight from the body (up to 100,000
addresses), documented in the OpenAPI schema from the same structs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from service.suppression.schemas import Channel, InvalidItem, openapi_schema

_SENT_AT_DOC = ("When the messages went out (ISO 8601 with a time zone); absent: now. At most "
                "5 minutes ahead, at most 30 days back (older sends count for no window).")


class SendsRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /v1/sends`: the messages of one topic that went out to these addresses."""

    channel: Channel
    topic: Annotated[str, Meta(min_length=1, max_length=64,
                               description="The topic key of the messages.")]
    addresses: Annotated[list[str], Meta(description="Addresses or 64-hex address keys "
                                                     "(up to BULK_MAX_ITEMS).")]
    campaign: Annotated[str, Meta(max_length=200)] | None = None
    sent_at: Annotated[datetime, Meta(tz=True, description=_SENT_AT_DOC)] | None = None


class SendsResult(msgspec.Struct):
    """How many sends were kept: each distinct valid address once; sends of a transactional
    topic are not kept (no frequency or cap ever applies to them)."""

    recorded: int
    invalid: Annotated[list[InvalidItem], Meta(description="Addresses that could not be read; "
                                                           "the others are recorded.")]


def _component(struct: type) -> dict:
    (_, defs) = msgspec.json.schema_components([struct])
    return defs[struct.__name__]


SENDS_REQUEST = openapi_schema(_component(SendsRequest))
