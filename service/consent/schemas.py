"""Request and response models of the preferences and ledger API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from service.consent.ledger import LEDGER_ACTIONS, SOURCES, STATUS_AFTER
from service.consent.pace import MAX_PER_WEEK
from service.contacts.normalize import CHANNELS
from service.topics.schemas import Channel, Frequency, Text, with_example

# The fixed sets of the ledger, as enums of the schema (each list is written in ledger.py)
Source = Literal[SOURCES]
LedgerAction = Literal[LEDGER_ACTIONS]
# the statuses an action leaves behind, and `none`: only a pause was ever recorded
PreferenceStatus = Literal[(*dict.fromkeys(STATUS_AFTER.values()), "none")]
# `*`: an event of the contact as a whole (restricting a contact that has no address)
LedgerChannel = Literal[(*CHANNELS, "*")]
LEDGER_CHANNEL_DOC = "`*`: the contact as a whole (a restriction of a contact without addresses)"


def _int_only(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 2.0 is a JSON Schema integer
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError("must be a whole number")
    return value


# A JSON integer (Litestar validates with strict=False, which would take "2" or 2.5 or true)
JSONInt = Annotated[int, BeforeValidator(_int_only)]


class PreferenceIn(BaseModel):
    """One change. `topic` null or absent: the whole channel. `status` sets the opt-in/out;
    `paused_until` (a future time) pauses, `paused_until: null` resumes; absent: unchanged."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    topic: Text | None = Field(default=None, max_length=64, examples=["newsletter"])
    status: Literal["opted_in", "opted_out"] | None = None
    paused_until: AwareDatetime | None = Field(
        default=None, examples=["2027-01-31T00:00:00Z"],
        description="Pause until this time (with a time zone); null resumes at once.")
    frequency: Frequency | None = Field(
        default=None, examples=["weekly"],
        description="On a topic item: how often this topic may come, one the topic offers "
                    "(`immediate`: no limit). Absent: unchanged.")
    max_per_week: JSONInt | None = Field(
        default=None, ge=1, le=MAX_PER_WEEK, examples=[2],
        description="On a whole-channel item: at most this many marketing messages in any 7 "
                    "days on the channel; null removes the cap. Absent: unchanged.")


class PreferencesUpdate(BaseModel):
    """Changes applied together, in one transaction, each with a ledger event carrying this
    proof (plus the caller's IP, user agent and API key)."""

    model_config = with_example(extra="forbid", example={
        "preferences": [
            {"channel": "email", "topic": "newsletter", "status": "opted_in"},
            {"channel": "sms", "topic": None, "status": "opted_out"},
            {"channel": "email", "topic": "offers", "paused_until": "2027-01-31T00:00:00Z"},
        ],
        "source": "api", "wording_version": "signup-v3", "campaign": "2026-11-spring",
    })

    preferences: list[PreferenceIn] = Field(min_length=1, max_length=500)
    source: Source = Field(default="api", description="Where the person expressed this.")
    wording_version: Text | None = Field(default=None, max_length=100,
                                        description="The consent text the person was shown.")
    campaign: Text | None = Field(default=None, max_length=200)
    message_ref: Text | None = Field(default=None, max_length=200)


class PreferenceOut(BaseModel):
    channel: Channel
    topic: str | None = Field(description="null: the whole channel")
    status: PreferenceStatus = Field(description="none: only a pause was ever recorded")
    paused_until: datetime | None = None
    updated_at: datetime
    frequency: Frequency | None = Field(default=None, description="A topic's chosen frequency; "
                                        "null: none chosen (no limit)")
    max_per_week: int | None = Field(default=None, description="The whole channel's weekly "
                                     "cap; null: none")


class PreferencesOut(BaseModel):
    model_config = with_example(example={
        "contact_id": "5f0c1e9a2b7d4c3e8f6a1b2c3d4e5f60", "changed": 1,
        "preferences": [{"channel": "email", "topic": "newsletter", "status": "opted_in",
                         "paused_until": None, "updated_at": "2026-11-22T10:00:00Z"}],
    })

    contact_id: str
    preferences: list[PreferenceOut]
    changed: int | None = Field(default=None, description="After a PUT: how many changes "
                                "were real (repeating the current state records nothing).")


class ConsentEventOut(BaseModel):
    id: int
    channel: LedgerChannel = Field(description=LEDGER_CHANNEL_DOC)
    topic: str | None = Field(description="null: the whole channel")
    action: LedgerAction = Field(examples=["opt_in"])
    source: str
    occurred_at: datetime
    ip: str | None = None
    user_agent: str | None = None
    wording_version: str | None = None
    campaign: str | None = None
    message_ref: str | None = None
    api_key_id: int | None = None
    detail: dict[str, Any] | None = None


class EventPage(BaseModel):
    model_config = with_example(example={
        "events": [{"id": 7, "channel": "email", "topic": "newsletter", "action": "opt_in",
                    "source": "api", "occurred_at": "2026-11-22T10:00:00Z",
                    "ip": "203.0.113.7", "user_agent": "crm-sync/2.1",
                    "wording_version": "signup-v3", "campaign": None, "message_ref": None,
                    "api_key_id": 3, "detail": None}],
        "next_cursor": "djE6Nw",
    })

    events: list[ConsentEventOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; "
                                                "null on the last page.")
