"""The vocabulary both documents speak: DPV terms, our own namespace, the controller.

Only real terms go under `dpv:` (https://w3id.org/dpv#, DPV 2); what DPV has no term for is
ours, under `prefs:` (PUBLIC_BASE_URL + "/ns#"), declared in the same inline @context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from urllib.parse import quote

from service.settings import Settings

DPV = "https://w3id.org/dpv#"
DCT = "http://purl.org/dc/terms/"
XSD = "http://www.w3.org/2001/XMLSchema#"
# The DPVCG's profile of ISO/IEC TS 27560:2023 (guide: https://w3id.org/dpv/guides/consent-27560)
DPV_27560 = "https://w3id.org/dpv/schema/dpv-27560"
JSONLD = "application/ld+json"

OPT_IN_ACTIONS = ("opt_in", "confirmed")
# the consent status each ledger action records (other actions record no consent decision)
EVENT_STATUS = {"opt_in": "dpv:ConsentGiven", "confirmed": "dpv:ConsentGiven",
                "opt_out": "dpv:ConsentWithdrawn", "pending": "dpv:ConsentRequested"}
# the consent status a preference state stands for; `none` (only a pause) says nothing
PREFERENCE_STATUS = {"opted_in": "dpv:ConsentGiven", "opted_out": "dpv:ConsentWithdrawn",
                     "pending": "dpv:ConsentRequested", "none": "dpv:ConsentUnknown"}
EXPIRED = "dpv:ConsentExpired"
# Sources where the person acted themselves; every other source (api, import, admin,
# esp_webhook, …) is the controller recording on the person's behalf.
PERSON_SOURCES = frozenset({"one_click", "unsubscribe_page", "preference_centre",
                            "double_opt_in", "mailto", "sms_keyword", "printed_code", "gpc",
                            "stop_all_brands"})
# How each source collects a choice: Kantara's free-text collectionMethod.
METHODS = {
    "api": "recorded through the API by the organisation's sign-up form or CRM",
    "one_click": "one-click unsubscribe (RFC 8058) from the mail client",
    "unsubscribe_page": "the unsubscribe page linked from a message",
    "preference_centre": "the person's own choice in the preference centre",
    "double_opt_in": "confirmed from a link emailed to the address (double opt-in)",
    "import": "imported from the organisation's records",
    "esp_webhook": "reported by the email service provider",
    "mailto": "unsubscribe email sent by the person",
    "admin": "recorded by the organisation's staff",
    "sms_keyword": "keyword texted by the person (e.g. START, STOP)",
    "printed_code": "code from a letter or fax entered by the person",
    "stop_all_brands": "the person's own choice in the preference centre of another brand of"
                       " the same controller (stop every brand)",
}


@dataclass(frozen=True, slots=True)
class Controller:
    """The data controller, from the ORG_* settings."""

    name: str
    privacy_url: str
    contact: str
    email: str
    phone: str
    address: str
    jurisdiction: str
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Controller:
        base = settings.public_base_url.rstrip("/")
        return cls(name=settings.org_name,
                   privacy_url=settings.org_privacy_url or base,
                   contact=settings.org_support_contact or settings.org_name,
                   email=settings.org_email or parseaddr(settings.mail_from)[1],
                   phone=settings.org_phone, address=settings.org_address,
                   jurisdiction=settings.org_jurisdiction, base_url=base)


def context(base_url: str) -> dict[str, str]:
    """The inline @context: expanding a record needs no network."""
    return {"dpv": DPV, "dct": DCT, "xsd": XSD, "prefs": f"{base_url}/ns#"}


def timestamp(value: datetime) -> dict[str, str]:
    """A typed xsd:dateTime literal in UTC."""
    text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"@value": text, "@type": "xsd:dateTime"}


def wording_iri(base_url: str, key: str) -> str:
    """Where the notice's exact text can be read (GET /v1/wording-versions/{key})."""
    return f"{base_url}/v1/wording-versions/{quote(key, safe='')}"


def method(source: str) -> str:
    return METHODS.get(source, source.replace("_", " "))
