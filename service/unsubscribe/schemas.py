"""Request and response models of `POST /v1/links`.

No `from __future__ import annotations` here: TypedDicts need their `NotRequired` keys evaluated
at class creation for the OpenAPI schema to mark them optional.
"""

from typing import Annotated, NotRequired

from annotated_types import MaxLen, MinLen
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from service.topics.schemas import Channel


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)  # PostgreSQL refuses NUL in text: a 422 here, not a 500 later


class LinkRecipient(TypedDict):
    """One recipient. `topic`: a topic key; null, absent or "*" for all marketing on the
    channel. `campaign`: recorded in the consent ledger when the link is used.
    (A TypedDict: validating 100,000 of them is about 8 times faster than models.)"""

    channel: Channel
    address: Annotated[str, MinLen(1), MaxLen(1000), NoNul]
    topic: NotRequired[Annotated[str | None, MaxLen(64), NoNul]]
    campaign: NotRequired[Annotated[str | None, MaxLen(200), NoNul]]


_REQUEST_EXAMPLE = {"recipients": [
    {"channel": "email", "address": "ann@example.com", "topic": "newsletter",
     "campaign": "2026-11-spring"},
    {"channel": "email", "address": "bob@example.com", "topic": None},
    {"channel": "sms", "address": "+447911123456", "topic": "offers"},
]}
_SIGNED = ("WyI0NTU0Mzg2NWUzZWQ0ZjQ1OGM1NWJkNWZhNGM1OGRjMCIsImVtYWlsIiwiKiIsIiJd"
           ".ZxhAPNF0nOqBOBnWi5B8")
_LINK_EXAMPLE = {
    "address": "ann@example.com",
    "headers": {
        "List-Unsubscribe": f"<https://prefs.example.com/u/{_SIGNED}>, "
                            f"<mailto:unsubscribe+{_SIGNED}@prefs.example.com"
                            f"?subject=unsubscribe%20{_SIGNED}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
    "unsubscribe_url": f"https://prefs.example.com/u/{_SIGNED}",
    "preferences_url": "https://prefs.example.com/p/WyI0NTU0Mzg...",
}


class LinksRequest(BaseModel):
    model_config = ConfigDict(example=_REQUEST_EXAMPLE,
                              json_schema_extra={"examples": [_REQUEST_EXAMPLE]})

    recipients: list[LinkRecipient] = Field(
        min_length=1,
        description="Up to BULK_MAX_ITEMS (default 100,000) recipients; answered in this order.",
    )


ListHeaders = TypedDict("ListHeaders", {
    "List-Unsubscribe": str,  # RFC 2369: <https link (RFC 8058 one-click)>, <mailto: link>
    "List-Unsubscribe-Post": str,  # RFC 8058: always "List-Unsubscribe=One-Click"
})


class UnsubscribeLinks(BaseModel):
    """The unsubscribe headers and footer links for one recipient."""

    model_config = ConfigDict(example=_LINK_EXAMPLE,
                              json_schema_extra={"examples": [_LINK_EXAMPLE]})

    address: str = Field(description="The address as sent in the request.")
    headers: ListHeaders | None = Field(
        description="RFC 2369 / RFC 8058 headers for the message: the https one-click link and, "
                    "when UNSUBSCRIBE_MAILTO is set, the mailto: link. Null for channels other "
                    "than email.",
    )
    unsubscribe_url: str = Field(description="For the footer: the page and one-click endpoint.")
    preferences_url: str = Field(description="The preference centre of this contact.")
    opt_out_code: str | None = Field(
        default=None, examples=["K7QM-3XPD-2W"],
        description="Post and fax recipients only (absent otherwise): a printed opt-out code, "
                    "10 characters of Crockford base32 (50 random bits), grouped for reading. "
                    "Typed at `opt_out_url` it stops what `unsubscribe_url` stops. Every "
                    "request issues new codes; all issued codes keep working.",
    )
    opt_out_url: str | None = Field(
        default=None, examples=["https://prefs.example.com/o"],
        description="Post and fax recipients only: where the code is typed (PUBLIC_BASE_URL/o).",
    )
    notice: str | None = Field(
        default=None,
        description="Fax recipients only: the opt-out notice for the first page (Junk Fax "
                    "Prevention Act): the 30-day rule, the page and code, ORG_SUPPORT_CONTACT.",
    )


class LinksResponse(BaseModel):
    model_config = ConfigDict(example={"links": [_LINK_EXAMPLE]},
                              json_schema_extra={"examples": [{"links": [_LINK_EXAMPLE]}]})

    links: list[UnsubscribeLinks]
