"""Contacts: upsert by external reference or address, read, change addresses.

Every function that writes takes the caller's transaction and raises `InputError`/`Conflict`
before its first write, so a caller may catch a refusal and go on in the same transaction (the
importer does); `save_contact` and `change_contact` are the API's, each its own transaction.
Addresses are parsed before any transaction starts (`parse_addresses`). The statements are in
service/contacts/queries.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.consent.ledger import Tx
from service.contacts import queries as q
from service.contacts.normalize import AddressError
from service.contacts.store import add_address, contact_exists, new_contact_id
from service.db.engine import Database
from service.db.keys import rows_arg
from service.errors import Conflict, InputError, NotFound

HELD_ELSEWHERE = "is already an address of another contact"


def check_contact_id(contact_id: str) -> str:
    """NotFound for what cannot be a contact id (ids are at most 36 characters, no NUL)."""
    if not contact_id or len(contact_id) > 36 or "\x00" in contact_id:
        raise NotFound("contact_id", "no contact with this id")
    return contact_id


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    field: str  # where it came from in the request, for error messages
    channel: str
    normalized: str
    key: str
    given: str


def parse_addresses(
    parse: Callable[[str, str], tuple[str, str]], items: Sequence[Any], prefix: str,
) -> list[ParsedAddress]:
    """Parse every (channel, address) item; InputError naming `prefix[i].address` on the first
    bad one. Repeats of one address (same channel and key) are dropped."""
    parsed: dict[tuple[str, str], ParsedAddress] = {}
    for i, item in enumerate(items):
        field = f"{prefix}[{i}].address"
        if "\x00" in item.address:
            raise InputError(field, "must not contain NUL characters")
        try:
            normalized, key = parse(item.channel, item.address)
        except AddressError as exc:
            raise InputError(field, str(exc)) from None
        parsed.setdefault((item.channel, key),
                          ParsedAddress(field, item.channel, normalized, key, item.address))
    return list(parsed.values())


async def _holders(tx: Tx, addresses: Sequence[ParsedAddress]) -> dict[tuple[str, str], Any]:
    """(channel, key) -> row (contact_id, external_ref) of the contacts holding any address."""
    if not addresses:
        return {}
    pairs = sorted({(a.channel, a.key) for a in addresses})
    rows = await tx.fetch(q.holders_sql(tx.engine), *rows_arg(tx.engine, pairs, 2))
    return {(r["channel"], r["address_key"]): r for r in rows}


async def _add_missing(tx: Tx, contact_id: str, addresses: Sequence[ParsedAddress],
                       holders: dict, now: datetime) -> int:
    added = 0
    for a in addresses:
        if (a.channel, a.key) not in holders:
            await add_address(tx, contact_id=contact_id, channel=a.channel,
                              normalized=a.normalized, address_key=a.key, given=a.given, now=now)
            added += 1
    return added


async def upsert_contact(
    tx: Tx, external_ref: str | None, addresses: Sequence[ParsedAddress],
    now: datetime | None = None,
) -> tuple[str, bool]:
    """(contact id, created). Matches by external_ref first, then by any address; refuses
    (409) addresses held by a different contact than the one matched."""
    if external_ref is None and not addresses:
        raise InputError("addresses", "give an external_ref or at least one address")
    now = now or datetime.now(UTC)
    await tx.lock_feed()  # serialize upserts, so two identical requests make one contact
    holders = await _holders(tx, addresses)
    contact_id = None
    if external_ref is not None:
        contact_id = await tx.fetchval(q.ID_BY_REF, external_ref)
    if contact_id is None and holders:
        contact_id = holders[next((a.channel, a.key) for a in addresses
                                  if (a.channel, a.key) in holders)]["contact_id"]
        holder_ref = next(r["external_ref"] for r in holders.values()
                          if r["contact_id"] == contact_id)
        if external_ref is not None and holder_ref not in (None, external_ref):
            first = next(a for a in addresses if (a.channel, a.key) in holders)
            raise Conflict(first.field, "belongs to a contact with another external_ref")
    for a in addresses:
        row = holders.get((a.channel, a.key))
        if contact_id is not None and row is not None and row["contact_id"] != contact_id:
            raise Conflict(a.field, HELD_ELSEWHERE)
    if contact_id is None:
        contact_id = new_contact_id()
        await tx.execute(q.CREATE, contact_id, external_ref, False, now)
        await _add_missing(tx, contact_id, addresses, {}, now)
        return contact_id, True
    changed = await _add_missing(tx, contact_id, addresses, holders, now)
    if external_ref is not None:
        changed += await tx.execute(q.SET_REF_IF_NONE, contact_id, external_ref)
    if changed:
        await tx.execute(q.TOUCH, contact_id, now)
    return contact_id, False


async def update_contact(
    tx: Tx, contact_id: str, *, add: Sequence[ParsedAddress], remove: Sequence[ParsedAddress],
    external_ref: str | None = None, set_external_ref: bool = False,
) -> None:
    """Change a contact's external_ref and addresses; adding an address it holds or removing
    one it does not is a no-op. 404 for an unknown contact, 409 for an address or
    external_ref held by another contact."""
    now = datetime.now(UTC)
    check_contact_id(contact_id)
    await tx.lock_feed()
    if not await contact_exists(tx, contact_id):
        raise NotFound("contact_id", "no contact with this id")
    if set_external_ref and external_ref is not None:
        other = await tx.fetchval(q.OTHER_BY_REF, external_ref, contact_id)
        if other is not None:
            raise Conflict("external_ref", "is already the external_ref of another contact")
    holders = await _holders(tx, add)
    for a in add:
        row = holders.get((a.channel, a.key))
        if row is not None and row["contact_id"] != contact_id:
            raise Conflict(a.field, HELD_ELSEWHERE)
    for a in remove:
        await tx.execute(q.REMOVE_ADDRESS, contact_id, a.channel, a.key)
    await _add_missing(tx, contact_id, add, holders, now)
    if set_external_ref:
        await tx.execute(q.SET_REF, contact_id, external_ref)
    await tx.execute(q.TOUCH, contact_id, now)


# -- the API's writes, each one transaction (routes.py holds none) -----------------------------
async def save_contact(db: Database, external_ref: str | None,
                       addresses: Sequence[ParsedAddress]) -> tuple[dict, bool]:
    """`POST /v1/contacts`: upsert and read the contact back in one transaction; (contact,
    created)."""
    async with db.transaction() as tx:
        contact_id, created = await upsert_contact(tx, external_ref, addresses)
        return await get_contact(tx, contact_id), created


async def change_contact(db: Database, contact_id: str, *, add: Sequence[ParsedAddress],
                         remove: Sequence[ParsedAddress], external_ref: str | None,
                         set_external_ref: bool) -> dict:
    """`PATCH /v1/contacts/{id}`: change and read the contact back in one transaction."""
    async with db.transaction() as tx:
        await update_contact(tx, contact_id, add=add, remove=remove, external_ref=external_ref,
                             set_external_ref=set_external_ref)
        return await get_contact(tx, contact_id)


def _contacts_from_rows(rows: Sequence[Any]) -> list[dict]:
    contacts: dict[str, dict] = {}
    for r in rows:
        contact = contacts.get(r["id"])
        if contact is None:
            contact = contacts[r["id"]] = {
                "id": r["id"], "external_ref": r["external_ref"],
                "restricted": bool(r["restricted"]), "created_at": r["created_at"],
                "updated_at": r["updated_at"], "addresses": [],
            }
        if r["channel"] is not None:
            contact["addresses"].append({
                "channel": r["channel"], "address": r["normalized"], "given": r["given"],
                "created_at": r["address_created_at"]})
    return list(contacts.values())


async def get_contact(db_or_tx: Any, contact_id: str) -> dict:
    """The contact with its addresses, in one query; NotFound when unknown."""
    check_contact_id(contact_id)
    rows = await db_or_tx.fetch(q.GET, contact_id)
    if not rows:
        raise NotFound("contact_id", "no contact with this id")
    return _contacts_from_rows(rows)[0]


async def find_contacts(db: Any, *, external_ref: str | None = None,
                        address: ParsedAddress | None = None) -> list[dict]:
    """Contacts with this external_ref and/or holding this address (0 or 1 of them)."""
    args = ([] if external_ref is None else [external_ref]) + (
        [] if address is None else [address.channel, address.key])
    rows = await db.fetch(q.find_sql(external_ref is not None, address is not None), *args)
    return _contacts_from_rows(rows)
