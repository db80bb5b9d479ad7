"""Request and response models of the topics API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from service.contacts.normalize import CHANNELS
from service.topics.cache import FREQUENCIES

Channel = Literal[CHANNELS]  # the channels addresses are parsed for, as the schema's enum
LegalBasis = Literal["consent", "soft_opt_in", "legitimate_interest"]
Frequency = Literal[FREQUENCIES]  # how often a person may ask for a topic (docs/consent.md)
_FREQUENCIES_DOC = ("The frequencies a person may choose for this topic: `immediate` (no "
                    "limit, always allowed), `daily`, `weekly`, `monthly`.")
TOPIC_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SALE_OR_SHARING = ("The topic's data goes to third parties (a partner list): a recipient's Global "
                   "Privacy Control signal (Sec-GPC: 1) opts them out of it.")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _bool_only(value: object) -> object:
    if value is not None and not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# A JSON boolean, as the schema says. Not pydantic's JSONBool: Litestar validates with
# `strict=False`, which overrides it, and `0`, `"yes"` or `"off"` would pass as booleans.
JSONBool = Annotated[bool, BeforeValidator(_bool_only)]

# Text stored in the database: PostgreSQL refuses NUL characters, so they are a 422 here.
Text = Annotated[str, AfterValidator(_no_nul)]


def with_example(example: dict, **config) -> ConfigDict:
    """A model config whose example shows in the OpenAPI at /schema (Litestar reads the
    `example` key) and in pydantic's own JSON schema."""
    return ConfigDict(**config, example=example, json_schema_extra={"examples": [example]})

_TOPIC_EXAMPLE = {
    "key": "newsletter",
    "name": "Newsletter",
    "description": "Our monthly newsletter",
    "channels": ["email"],
    "legal_basis": "consent",
    "transactional": False,
    "sale_or_sharing": False,
}


class TopicCreate(BaseModel):
    """A purpose of communication; its key is how every other call refers to it."""

    model_config = with_example(extra="forbid", example=_TOPIC_EXAMPLE)

    key: str = Field(pattern=TOPIC_KEY_PATTERN, examples=["newsletter"],
                     description="Lower-case letters, digits, '-', '_' or '.'; cannot change.")
    name: Text = Field(min_length=1, max_length=200, examples=["Newsletter"])
    description: Text = Field(default="", max_length=2000)
    channels: list[Channel] = Field(min_length=1, examples=[["email", "sms"]],
                                    description="The channels this topic may use.")
    legal_basis: LegalBasis = Field(
        default="consent",
        description="consent: needs a recorded opt-in; soft_opt_in / legitimate_interest: "
                    "allowed until the person opts out.",
    )
    transactional: JSONBool = Field(
        default=False, description="Service messages that marketing opt-outs do not stop.")
    sale_or_sharing: JSONBool = Field(default=False, description=SALE_OR_SHARING)
    # a value given twice counts once, as in `channels` (no maxItems: a repeat is no error)
    frequencies: list[Frequency] = Field(default=["immediate"], min_length=1,
                                         description=_FREQUENCIES_DOC)


class TopicUpdate(BaseModel):
    """Only the fields given change."""

    model_config = with_example(
        {"name": "Monthly newsletter", "channels": ["email", "post"]}, extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    # Litestar documents min_length of an optional list as minLength (for strings): say minItems
    channels: list[Channel] | None = Field(default=None, min_length=1,
                                           json_schema_extra={"minItems": 1})
    legal_basis: LegalBasis | None = None
    transactional: JSONBool | None = None
    sale_or_sharing: JSONBool | None = Field(default=None, description=SALE_OR_SHARING)
    frequencies: list[Frequency] | None = Field(default=None, min_length=1,
                                                json_schema_extra={"minItems": 1},
                                                description=_FREQUENCIES_DOC)


class TopicOut(BaseModel):
    model_config = with_example(example={
        **_TOPIC_EXAMPLE, "archived": False, "archived_at": None,
        "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"})

    key: str
    name: str
    description: str
    channels: list[Channel]
    legal_basis: LegalBasis
    transactional: bool
    sale_or_sharing: bool = Field(description=SALE_OR_SHARING)
    archived: bool
    archived_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    frequencies: list[Frequency] = Field(default=["immediate"], description=_FREQUENCIES_DOC)
