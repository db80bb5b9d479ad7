from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, IPvAnyAddress

from service.consent.schemas import Source
from service.topics.schemas import JSONBool


def _text_or_null(value: object) -> object:
    """An IP address is a JSON string, as the schema says: pydantic alone would read `false`
    or `0` as 0.0.0.0."""
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a string (an IPv4 or IPv6 address) or null")
    return value


class SignupRequest(BaseModel):
    """A sign-up from a form: pending until the person confirms by email (double opt-in)."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["email"] = Field(description="Double opt-in confirms by email.")
    address: str = Field(min_length=1, max_length=1000, examples=["ann@example.com"])
    topics: list[str] = Field(min_length=1, max_length=50, examples=[["newsletter"]])
    wording_version: str = Field(min_length=1, max_length=100, examples=["signup-v3"],
                                 description="The consent text the form showed.")
    source: Source = Field("double_opt_in", description="Ledger source of the pending consent.")
    ip: Annotated[IPvAnyAddress | None, BeforeValidator(_text_or_null)] = Field(
        None, description="The sign-up form's client address.")
    user_agent: str | None = Field(None, max_length=1000,
                                   description="The sign-up form's client user agent.")
    lang: str | None = Field(None, max_length=16, examples=["de"],
                             description="Language of the confirmation email.")
    gpc: JSONBool = Field(False, description=(
        "The sign-up form's request carried a Global Privacy Control signal (`Sec-GPC: 1`): "
        "the person is opted out of every `sale_or_sharing` topic (source `gpc`), and none "
        "of them becomes pending."))


class SignupAccepted(BaseModel):
    """The answer to a sign-up (202): what now waits for the person's confirmation."""

    contact_id: str
    channel: Literal["email"]
    address: str
    pending: list[str] = Field(description="Topics now waiting for the person's confirmation.")
    already_subscribed: list[str]
    opted_out_by_gpc: list[str] = Field(
        default_factory=list, description="Topics the Global Privacy Control signal (`gpc`) "
                                          "opted out of, now or before.")
    confirmation_email: Literal["queued", "not_needed", "undeliverable"] = Field(
        description="queued: sent by the outbox (at most one per address every 10 minutes); "
                    "undeliverable: the address is suppressed as hard_bounce or invalid.")


# OpenAPI components are named after the classes: `SignupRequest` and `SignupAccepted`, not
# `SubscriptionIn` beside the webhooks' subscriptions. Old names kept for their importers.
SubscriptionIn = SignupRequest
SubscriptionOut = SignupAccepted
