"""Contacts API: create or match (upsert), look up, read, change addresses."""

from __future__ import annotations

from litestar import Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from service.contacts import logic
from service.contacts.normalize import CHANNELS, from_query
from service.contacts.schemas import (
    AddressIn,
    AddressQuery,
    Channel,
    ContactOut,
    ContactUpdate,
    ContactUpsert,
)
from service.errors import InputError
from service.runtime import RT

READ = {"scope": "contacts:read"}
WRITE = {"scope": "contacts:write"}
TAGS = ["contacts"]


@post("/contacts", operation_id="createContact",
      opt=WRITE, tags=TAGS, status_code=201, summary="Create or match a contact",
      responses={200: ResponseSpec(ContactOut, description="Matched an existing contact",
                                   generate_examples=False)})
async def upsert_contact(rt: RT, data: JSONBody[ContactUpsert]) -> Response[ContactOut]:
    """201 with a new contact, or 200 with the contact that already has this `external_ref`
    or one of these addresses (addresses it lacks are added). 422 naming the first address
    that cannot be used, 409 when an address belongs to another contact; nothing is written
    then."""
    addresses = logic.parse_addresses(rt.parse_address, data.addresses, "addresses")
    contact, created = await logic.save_contact(rt.db, data.external_ref, addresses)
    return Response(ContactOut(**contact), status_code=201 if created else 200)


@get("/contacts", operation_id="findContacts", opt=READ, tags=TAGS, summary="Find contacts")
async def find_contacts(
    rt: RT, external_ref: FromQuery[str | None] = None, channel: FromQuery[Channel | None] = None,
    address: AddressQuery = None,
) -> list[ContactOut]:
    """By `external_ref`, or by `channel` (email, sms, phone, fax, post) and `address` (in any
    spelling); an empty list when none matches."""
    parsed = None
    if channel is not None and channel not in CHANNELS:
        raise InputError("channel", f"use one of {', '.join(CHANNELS)}")
    if external_ref is not None and ("\x00" in external_ref or len(external_ref) > 255):
        return []
    if (channel is None) != (address is None):
        raise InputError("address" if address is None else "channel",
                         "give channel and address together")
    if channel is not None and address is not None:
        parsed = logic.parse_addresses(rt.parse_address, [AddressIn(
            channel=channel, address=from_query(channel, address))], "query")[0]
    elif external_ref is None:
        raise InputError("external_ref", "give external_ref, or channel and address")
    found = await logic.find_contacts(rt.db, external_ref=external_ref, address=parsed)
    return [ContactOut(**c) for c in found]


@get("/contacts/{contact_id:str}", operation_id="getContact",
     opt=READ, tags=TAGS, summary="Read a contact")
async def get_contact(rt: RT, contact_id: FromPath[str]) -> ContactOut:
    return ContactOut(**await logic.get_contact(rt.db, contact_id))


@patch("/contacts/{contact_id:str}", operation_id="updateContact",
       opt=WRITE, tags=TAGS, summary="Update a contact")
async def update_contact(rt: RT, contact_id: FromPath[str],
                         data: JSONBody[ContactUpdate]) -> ContactOut:
    """Set or clear (`null`) the external reference; add and remove addresses. Adding an
    address another contact holds is a 409; nothing is written then."""
    add = logic.parse_addresses(rt.parse_address, data.add_addresses, "add_addresses")
    remove = logic.parse_addresses(rt.parse_address, data.remove_addresses, "remove_addresses")
    contact = await logic.change_contact(
        rt.db, contact_id, add=add, remove=remove, external_ref=data.external_ref,
        set_external_ref="external_ref" in data.model_fields_set)
    return ContactOut(**contact)


api_routes = [upsert_contact, find_contacts, get_contact, update_contact]
page_routes: list = []
