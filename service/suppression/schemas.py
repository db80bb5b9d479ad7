"""Request and response shapes of the suppression API.

The check and the feed answer with msgspec Structs encoded straight to bytes (the hot paths);
Litestar documents them in the OpenAPI schema like any model. Write requests are pydantic models,
as elsewhere in the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from msgspec import Meta
from pydantic import BaseModel, Field

from service.consent.decision import BLOCK_REASONS, SUPPRESSION_REASONS
from service.contacts.normalize import CHANNELS
from service.topics.schemas import Channel

Reason = Literal[SUPPRESSION_REASONS]  # why an address is suppressed
BlockReason = Literal[BLOCK_REASONS]  # why decide() blocks a send: a Reason or a consent state


@dataclass(frozen=True)
class QueryParam:
    """One query parameter of a route that reads its own query (the hot check): the parser in
    `check.read_check_query` and the OpenAPI operation both read this, so they cannot drift."""

    name: str
    description: str
    required: bool = False
    enum: tuple[str, ...] = ()

    @property
    def allowed(self) -> frozenset[str] | None:
        return frozenset(self.enum) if self.enum else None

    def openapi(self) -> OpenAPIParameter:
        schema = Schema(type=OpenAPIType.STRING, enum=list(self.enum) or None)
        if not self.required:  # absent, or empty: the parser reads both as "not given"
            schema = Schema(one_of=[schema, Schema(type=OpenAPIType.NULL)])
        return OpenAPIParameter(name=self.name, param_in=ParamType.QUERY, required=self.required,
                                schema=schema, description=self.description)


CHECK_QUERY = (
    QueryParam("channel", "The channel the message would go out on.", required=True,
               enum=CHANNELS),
    QueryParam("address", "The address, URL-encoded (`+` as `%2B`; an unencoded `+` read as a "
                          "space is repaired), or its 64-hex address key.", required=True),
    QueryParam("topic", "A topic key; absent or empty: the channel as a whole."),
)

_ADDRESS_DOC = "The address as given, or its 64-hex address key."
_REASONS_DOC = ("What blocks sending (suppression reasons, `opted_out`, `paused`, `no_consent`, "
                "`restricted`, `external_list_stale`: a national list of the channel is past its "
                "maximum age; `undeliverable`: another tenant of this deployment saw the address "
                "hard-bounce, shared by the operator's SHARE_HARD_BOUNCES); empty when allowed.")


_NEXT_DOC = ("With `frequency` among the reasons: when the person's frequency or weekly cap "
             "lets the next message go (if nothing else is sent before); otherwise null "
             "(omitted in the bulk answer).")


class CheckResult(msgspec.Struct):
    """The send decision for one address."""

    channel: Channel
    address: Annotated[str, Meta(description=_ADDRESS_DOC)]
    topic: Annotated[str | None, Meta(description="null: the channel as a whole")]
    allowed: bool
    reasons: Annotated[list[BlockReason], Meta(description=_REASONS_DOC)]
    next_allowed_at: Annotated[datetime | None, Meta(description=_NEXT_DOC)] = None


class BulkCheckRequest(msgspec.Struct):
    """`POST /v1/suppressions/check` as JSON (up to BULK_MAX_ITEMS addresses)."""

    channel: Channel
    addresses: Annotated[list[str], Meta(description="Addresses or 64-hex address keys.")]
    topic: Annotated[str | None, Meta(description="null or absent: the whole channel")] = None


class BlockedItem(msgspec.Struct, omit_defaults=True):
    address: str
    reasons: list[BlockReason]
    next_allowed_at: Annotated[datetime | None, Meta(description=_NEXT_DOC)] = None


class InvalidItem(msgspec.Struct):
    address: str
    error: str


class BulkCheckResult(msgspec.Struct):
    """Addresses listed in neither `blocked` nor `invalid` are allowed (request order kept)."""

    checked: int
    blocked: list[BlockedItem]
    invalid: list[InvalidItem]


class FeedEntry(msgspec.Struct):
    """One change of the suppression list."""

    seq: Annotated[int, Meta(description="Position in the change feed; increases, no repeats.")]
    op: Annotated[Literal["added", "removed"], Meta(description="added or removed")]
    channel: Channel
    address_key: str
    topic: Annotated[str | None, Meta(description="null: the whole channel")]
    reason: Reason
    source: str
    list_name: str | None
    time: datetime


class FeedPage(msgspec.Struct):
    entries: list[FeedEntry]
    next_cursor: Annotated[str, Meta(description="Pass as `cursor` to continue; never empty.")]
    has_more: Annotated[bool, Meta(description="false: caught up; poll again later.")]


class SuppressionAdd(BaseModel):
    channel: Channel
    reason: Reason
    source: str = Field("api", min_length=1, max_length=32, examples=["crm-sync"])
    topic: str | None = Field(None, description="null or absent: the whole channel")
    list_name: str | None = Field(None, max_length=32, examples=["TPS"])
    addresses: list[str] = Field(min_length=1, description="Addresses or 64-hex address keys.")


class SuppressionAddResult(BaseModel):
    added: int
    already: int


class RemainingSuppression(BaseModel):
    topic: str | None
    reason: Reason


class SuppressionRemoved(BaseModel):
    channel: Channel
    address_key: str
    topic: str | None
    reason: Reason
    remaining: list[RemainingSuppression] = Field(
        description="Suppressions still in force on the address.")


class ExternalListInfo(BaseModel):
    """A national do-not-call list as of its last snapshot import (docs/channels.md)."""

    name: str = Field(examples=["TPS"])
    channel: Channel
    as_of: date = Field(description="The date of the list the last snapshot import held.")
    size: int = Field(description="Numbers on that snapshot.")
    max_age_days: int | None = Field(
        description="Days the snapshot stays current; past that, marketing checks on the "
                    "channel answer `external_list_stale`. null: never stale (a list of "
                    "your own).")


def openapi_schema(json_schema: dict) -> Schema:
    """A JSON Schema (as `msgspec.json.schema` writes it) as a Litestar OpenAPI `Schema`, for
    shapes a handler decodes itself: the schema is derived from the struct its decoder reads."""
    fields = {"type": "type", "enum": "enum", "description": "description", "title": "title",
              "required": "required", "default": "default", "minLength": "min_length",
              "maxLength": "max_length", "minItems": "min_items", "maxItems": "max_items"}
    kwargs = {attr: json_schema[key] for key, attr in fields.items() if key in json_schema}
    if "type" in kwargs:
        kwargs["type"] = OpenAPIType(kwargs["type"])
    if "format" in json_schema:  # e.g. date-time: a fuzzer then sends only what parses
        kwargs["format"] = OpenAPIFormat(json_schema["format"])
    if json_schema.get("additionalProperties") is False:  # forbid_unknown_fields=True
        kwargs["additional_properties"] = False
    if "properties" in json_schema:
        kwargs["properties"] = {name: openapi_schema(sub)
                                for name, sub in json_schema["properties"].items()}
    if "items" in json_schema:
        kwargs["items"] = openapi_schema(json_schema["items"])
    if "anyOf" in json_schema:
        kwargs["one_of"] = [openapi_schema(sub) for sub in json_schema["anyOf"]]
    return Schema(**kwargs)


def _component(struct: type) -> Schema:
    (_, defs) = msgspec.json.schema_components([struct])
    return openapi_schema(defs[struct.__name__])


# The JSON body of the bulk check, documented from the struct `stream.decode_request` reads
# (inline, titled: Litestar builds components only from handler signatures, and a client
# generator names the model after the title).
BULK_CHECK_REQUEST = _component(BulkCheckRequest)
