"""Request and response models of the privacy API; the export schema is described in
docs/privacy.md (and in the OpenAPI schema at /schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.consent.schemas import (
    LEDGER_CHANNEL_DOC,
    LedgerAction,
    LedgerChannel,
    PreferenceStatus,
)
from service.suppression.schemas import Reason
from service.topics.schemas import Channel, JSONBool

EXPORT_FORMAT = "prefservice.contact-export"
EXPORT_SCHEMA_VERSION = 1
WORDING_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$"


class ExportedContact(BaseModel):
    """The contact record itself (`ContactExport` is the whole document)."""

    id: str = Field(description="Opaque contact id (never derived from an address).")
    external_ref: str | None = Field(description="The CRM's id of this person, if given.")
    restricted: bool = Field(description="Processing restricted (GDPR art. 18).")
    created_at: datetime
    updated_at: datetime


class ExportAddress(BaseModel):
    channel: Channel
    address: str = Field(description="Normalized form (email: IDNA domain; phone: E.164).")
    given: str = Field(description="The form in which the address was given to us.")
    address_key: str = Field(description="HMAC-SHA256 matching key (hex); no address inside.")
    created_at: datetime


class ExportPreference(BaseModel):
    channel: Channel
    topic: str | None = Field(description="Topic key; null means the whole channel.")
    status: PreferenceStatus = Field(description="none: only a pause was ever recorded.")
    paused_until: datetime | None
    updated_at: datetime


class ExportEvent(BaseModel):
    """One consent ledger event, as recorded."""

    id: int
    channel: LedgerChannel = Field(description=LEDGER_CHANNEL_DOC)
    topic: str | None = Field(description="Topic key; null means the whole channel.")
    action: LedgerAction
    source: str
    occurred_at: datetime
    ip: str | None
    user_agent: str | None
    wording_version: str | None = Field(description="Key of the consent text shown.")
    campaign: str | None
    message_ref: str | None
    api_key_id: int | None
    detail: dict[str, Any] | None


class ExportSuppression(BaseModel):
    channel: Channel
    address: str | None = Field(description="Which of the addresses above it applies to.")
    topic: str | None = Field(description="Topic key; null means the whole channel.")
    reason: Reason
    source: str
    list_name: str | None
    created_at: datetime


class ExportWording(BaseModel):
    key: str
    text: str
    language: str
    created_at: datetime


class ContactExport(BaseModel):
    """Everything the service holds about one person (GDPR art. 15 and 20)."""

    format: Literal["prefservice.contact-export"] = EXPORT_FORMAT
    schema_version: int = EXPORT_SCHEMA_VERSION
    generated_at: datetime
    contact: ExportedContact
    addresses: list[ExportAddress]
    preferences: list[ExportPreference]
    consent_events: list[ExportEvent]
    suppressions: list[ExportSuppression]
    wording_versions: list[ExportWording] = Field(
        description="The exact consent texts the events refer to.")


class RestrictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"restricted": True, "reason": "accuracy contested by the data subject"}]})

    restricted: JSONBool
    reason: str | None = Field(default=None, max_length=500,
                               description="Why; recorded in the ledger event's detail.")


class ObjectionOut(BaseModel):
    """What an objection to direct marketing changed."""

    id: str
    objected: bool = True
    recorded: bool = Field(description="False when an objection was on record already and "
                                       "every channel was switched off: nothing was written.")
    event_id: int = Field(description="The `objected` ledger event (the earlier one when "
                                      "nothing was new).")
    channels: list[Channel] = Field(description="Channels whose marketing this call switched "
                                              "off.")


class RestrictionOut(BaseModel):
    id: str
    restricted: bool
    changed: bool = Field(description="False when the contact already was in that state.")


class ErasureOut(BaseModel):
    id: str
    erased: bool = True
    addresses: int = Field(description="Addresses removed; each is now suppressed as erased.")
    suppressions_added: int
    ledger_events_scrubbed: int = Field(description="Ledger events whose IP and user agent "
                                                    "were removed (the events are kept).")
    outbox_deleted: int = Field(description="Queued or sent emails to the person, deleted.")
    outbox_redacted: int = Field(description="Other outbox jobs with the address redacted.")


class WordingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"key": "signup-v3", "text": "Yes, send me the monthly newsletter. I can unsubscribe "
                                     "at any time.", "language": "en"}]})

    key: str = Field(pattern=WORDING_KEY_PATTERN, description="Immutable; a changed text "
                                                              "needs a new key.")
    text: str = Field(min_length=1, max_length=20_000)
    # the column is VARCHAR(16): a longer tag the pattern allows was a 500 on PostgreSQL
    language: str = Field(default="en", pattern=LANGUAGE_PATTERN, max_length=16)


class WordingOut(BaseModel):
    key: str
    text: str
    language: str
    created_at: datetime


class ProofEntry(BaseModel):
    event_id: int
    contact_id: str
    addresses: list[str] = Field(description="The contact's current addresses on the channel; "
                                             "empty once erased.")
    channel: LedgerChannel = Field(description=LEDGER_CHANNEL_DOC)
    topic: str | None
    action: LedgerAction
    kind: Literal["consent", "pending", "withdrawal", "objection", "other"] = Field(
        description="objection: an objection to all direct marketing (GDPR art. 21).")
    occurred_at: datetime
    source: str
    ip: str | None
    user_agent: str | None
    wording_version: str | None
    wording_text: str | None = Field(description="The exact text of that wording version.")
    wording_language: str | None
    campaign: str | None
    message_ref: str | None
    api_key_id: int | None
    objection: int | None = Field(default=None, description="For an opt-out an objection "
                                  "wrote: the event id of that objection.")


class ProofReport(BaseModel):
    """Who agreed, when, how, to which words, and every withdrawal."""

    subject: Literal["contact", "topic"]
    key: str = Field(description="The contact id or the topic key.")
    generated_at: datetime
    consents: int
    withdrawals: int
    objections: int = Field(description="Objections to direct marketing (GDPR art. 21).")
    entries: list[ProofEntry]
    next_after: int | None = Field(default=None, description="Pass as `after` for the next "
                                                             "page; null on the last page.")
