"""Request and response models of the contacts API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar.params import QueryParameter
from pydantic import BaseModel, Field

from service.topics.schemas import Channel, Text, with_example

_ADDRESS_EXAMPLE = {"channel": "email", "address": "Ann@Example.com"}


class AddressIn(BaseModel):
    model_config = with_example(extra="forbid", example=_ADDRESS_EXAMPLE)

    channel: Channel
    address: Text = Field(min_length=1, max_length=1000, examples=["Ann@Example.com"],
                         description="As given; normalized by the service (email: IDNA, NFC; "
                                     "phone/sms/fax: E.164; post: lines separated by commas).")


# `?address=` of GET /v1/contacts: the bounds of AddressIn.address, checked before the handler
# builds an AddressIn from it (an empty or overlong one was a 500)
AddressQuery = Annotated[str | None, QueryParameter(min_length=1, max_length=1000, description=(
    "With `channel`: the address, in any spelling"))]


class ContactUpsert(BaseModel):
    """Create a contact, or match an existing one by `external_ref` or by any of the addresses
    (answered 200 instead of 201). Addresses it does not hold yet are added."""

    model_config = with_example(extra="forbid", example=
        {"external_ref": "crm-42", "addresses": [_ADDRESS_EXAMPLE,
                                                 {"channel": "sms", "address": "+447911123456"}]}
    )

    external_ref: Text | None = Field(default=None, min_length=1, max_length=255,
                                     description="The CRM's id of this person; unique.")
    addresses: list[AddressIn] = Field(default_factory=list, max_length=100)


class ContactUpdate(BaseModel):
    """Change the external reference (null clears it), add or remove addresses."""

    model_config = with_example(extra="forbid", example=
        {"add_addresses": [{"channel": "email", "address": "ann.new@example.com"}],
         "remove_addresses": [{"channel": "email", "address": "ann@example.com"}]}
    )

    external_ref: Text | None = Field(default=None, min_length=1, max_length=255)
    add_addresses: list[AddressIn] = Field(default_factory=list, max_length=100)
    remove_addresses: list[AddressIn] = Field(default_factory=list, max_length=100)


class AddressOut(BaseModel):
    channel: Channel
    address: str = Field(description="The normalized form, used for matching.")
    given: str = Field(description="The form it was first given in.")
    created_at: datetime


class ContactOut(BaseModel):
    model_config = with_example(example={
        "id": "5f0c1e9a2b7d4c3e8f6a1b2c3d4e5f60", "external_ref": "crm-42", "restricted": False,
        "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z",
        "addresses": [{"channel": "email", "address": "Ann@example.com",
                       "given": "Ann@Example.com", "created_at": "2026-11-22T10:00:00Z"}],
    })

    id: str = Field(description="Opaque; never derived from an address.")
    external_ref: str | None = None
    restricted: bool = Field(description="Processing restricted (GDPR art. 18): only "
                                         "transactional messages may be sent.")
    created_at: datetime
    updated_at: datetime
    addresses: list[AddressOut]
