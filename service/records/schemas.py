"""Response models of the records capability: the Kantara Consent Receipt v1.1, field names as
the specification spells them. The JSON-LD records are documented in docs/privacy.md (their
keys start with `@`, which a model would rename)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ReceiptAddress(BaseModel):
    streetAddress: str = Field(description="ORG_ADDRESS")
    addressCountry: str = Field(description="ORG_JURISDICTION")


class ReceiptController(BaseModel):
    """A PII controller (the organisation running this service)."""

    piiController: str = Field(description="ORG_NAME")
    onBehalf: bool
    contact: str = Field(description="ORG_SUPPORT_CONTACT, else ORG_NAME")
    address: ReceiptAddress
    email: str = Field(description="ORG_EMAIL, else the address of MAIL_FROM")
    phone: str = Field(description="ORG_PHONE")
    piiControllerUrl: str = Field(description="PUBLIC_BASE_URL")


class ReceiptPurpose(BaseModel):
    purpose: str
    purposeCategory: list[str]
    consentType: Literal["EXPLICIT", "IMPLICIT"]
    piiCategory: list[str]
    primaryPurpose: bool
    termination: str
    thirdPartyDisclosure: bool


class ReceiptService(BaseModel):
    service: str
    purposes: list[ReceiptPurpose]


class ConsentReceipt(BaseModel):
    """Kantara Initiative Consent Receipt Specification v1.1 for one opt-in event."""

    version: Literal["KI-CR-v1.1.0"]
    jurisdiction: str
    consentTimestamp: int = Field(description="Seconds since the epoch")
    collectionMethod: str = Field(description="Ledger source: how it was collected")
    consentReceiptID: str = Field(description="UUID, the same for the same event")
    language: str
    piiPrincipalId: str = Field(description="The opaque contact id")
    piiControllers: list[ReceiptController]
    policyUrl: str = Field(description="ORG_PRIVACY_URL, else PUBLIC_BASE_URL")
    services: list[ReceiptService]
    sensitive: bool
    spiCat: list[str]

