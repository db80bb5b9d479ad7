"""Request and response shapes of the suppression API.

The check and the feed answer with msgspec Structs encoded straight to bytes (the hot paths);
Litestar documents them in the OpenAPI schema like any model. Write requests are pydantic models,
as elsewhere in the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from pydantic import BaseModel, Field

from service.consent.decision import SUPPRESSION_REASONS

Channel = Literal["email", "sms", "phone", "fax", "post"]
Reason = Literal["hard_bounce", "invalid", "erased", "complaint", "unsubscribed", "manual",
                 "external_list"]
assert set(Reason.__args__) == set(SUPPRESSION_REASONS)  # kept in step with decide()

_ADDRESS_DOC = "The address as given, or its 64-hex address key."
_REASONS_DOC = ("What blocks sending (suppression reasons, `opted_out`, `paused`, `no_consent`, "
                "`restricted`); empty when allowed.")


class CheckResult(msgspec.Struct):
    """The send decision for one address."""

    channel: str
    address: Annotated[str, Meta(description=_ADDRESS_DOC)]
    topic: Annotated[str | None, Meta(description="null: the channel as a whole")]
    allowed: bool
    reasons: Annotated[list[str], Meta(description=_REASONS_DOC)]


class BulkCheckRequest(msgspec.Struct):
    """`POST /v1/suppressions/check` as JSON (up to BULK_MAX_ITEMS addresses)."""

    channel: Channel
    addresses: Annotated[list[str], Meta(description="Addresses or 64-hex address keys.")]
    topic: Annotated[str | None, Meta(description="null or absent: the whole channel")] = None


class BlockedItem(msgspec.Struct):
    address: str
    reasons: list[str]


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
    channel: str
    address_key: str
    topic: Annotated[str | None, Meta(description="null: the whole channel")]
    reason: str
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


class Remaining(BaseModel):
    topic: str | None
    reason: str


class SuppressionRemoved(BaseModel):
    channel: str
    address_key: str
    topic: str | None
    reason: str
    remaining: list[Remaining] = Field(description="Suppressions still in force on the address.")
