"""Finding and creating contacts by their addresses, in the caller's transaction.

The statements are in service/contacts/queries.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from service.consent.ledger import Tx
from service.contacts import queries as q


def new_contact_id() -> str:
    """Opaque, random, never derived from the address."""
    return uuid.uuid4().hex


async def contact_for_address(tx: Tx, channel: str, address_key: str) -> str | None:
    return await tx.fetchval(q.BY_ADDRESS, channel, address_key)


async def ensure_contact_for_address(
    tx: Tx, *, channel: str, normalized: str, address_key: str, given: str,
    external_ref: str | None = None, now: datetime | None = None,
) -> tuple[str, bool]:
    """(contact id, created): the contact holding this address, created when unknown."""
    existing = await contact_for_address(tx, channel, address_key)
    if existing is not None:
        return existing, False
    # Serialize creators (PostgreSQL), then look again: a concurrent request may have won.
    await tx.lock_feed()
    existing = await contact_for_address(tx, channel, address_key)
    if existing is not None:
        return existing, False
    now = now or datetime.now(UTC)
    contact_id = new_contact_id()
    await tx.execute(q.CREATE, contact_id, external_ref, False, now)
    await add_address(tx, contact_id=contact_id, channel=channel, normalized=normalized,
                      address_key=address_key, given=given, now=now)
    return contact_id, True


async def add_address(
    tx: Tx, *, contact_id: str, channel: str, normalized: str, address_key: str, given: str,
    now: datetime | None = None,
) -> None:
    await tx.execute(q.ADD_ADDRESS, contact_id, channel, address_key, normalized, given,
                     now or datetime.now(UTC))


async def addresses_of(tx_or_db, contact_id: str, channel: str | None = None) -> list:
    """(channel, address_key, normalized, given) rows of a contact."""
    if channel is None:
        return await tx_or_db.fetch(q.ADDRESSES_OF, contact_id)
    return await tx_or_db.fetch(q.ADDRESSES_OF_ON, contact_id, channel)


async def contact_exists(tx_or_db, contact_id: str) -> bool:
    return await tx_or_db.fetchval(q.EXISTS, contact_id) is not None


async def contact_addresses(tx_or_db, contact_id: str, channel: str | None = None
                            ) -> list | None:
    """(channel, address_key) rows of a contact (on one channel), read with the contact in one
    statement (the one-click's path is benchmarked); None when there is no such contact."""
    if channel is None:
        rows = await tx_or_db.fetch(q.WITH_ADDRESSES, contact_id)
    else:
        rows = await tx_or_db.fetch(q.WITH_ADDRESSES_ON, contact_id, channel)
    if not rows:
        return None
    return [row for row in rows if row[1] is not None]
