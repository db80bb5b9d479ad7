"""Tenants (issue 18): the link look-ups of `POST /v1/links` and the one-click's reads see only
their own tenant's rows, on both engines.

Until migration T2 drops the old uniques, two tenants cannot hold the same address key, so each
tenant gets addresses of its own here.
"""

from __future__ import annotations

import pytest

from service.consent.ledger import Proof
from service.db.tenant_db import TenantDb
from service.security.tokens import TokenData
from service.unsubscribe import links, logic
from tests.unsubscribe.helpers import (
    add_tenant_contact,
    add_tenant_preference,
    counts,
    tenant_of,
)


def _items(rt, prefix: str, n: int = 3) -> list[links.Item]:
    found = []
    for i in range(n):
        address = f"{prefix}{i}@example.com"
        normalized, key = rt.parse_address("email", address)
        found.append(links.Item(address, "email", "*", "", normalized, key))
    return found


async def _resolve(view: TenantDb, items: list[links.Item]) -> dict[tuple[str, str], str]:
    resolver = links.ContactResolver(view)
    resolver.look_up(items)
    return await resolver.finish()


@pytest.mark.parametrize("long", [False, True], ids=["short", "long"])
async def test_link_look_ups_find_only_their_tenants_contacts(raw_db, rt, monkeypatch, long):
    """Contacts created by one tenant's links are that tenant's, and each tenant's look-ups
    (off and in the creating transaction; the long form reads SQLite's raw connection in a
    thread, past the tenant's view) find only its own."""
    if long:
        monkeypatch.setattr(links, "LONG_READ", 1)
    one, two = TenantDb(raw_db, 1), TenantDb(raw_db, 2)
    items_1, items_2 = _items(rt, "ann"), _items(rt, "bob")
    made_1, made_2 = await _resolve(one, items_1), await _resolve(two, items_2)
    ids_2 = sorted(made_2.values())
    assert await tenant_of(raw_db, "contact", "id IN ($1, $2, $3)", *ids_2) == [2, 2, 2]
    assert await tenant_of(raw_db, "address", "contact_id IN ($1, $2, $3)", *ids_2) == [2, 2, 2]
    assert await tenant_of(raw_db, "contact", "id IN ($1, $2, $3)",
                           *made_1.values()) == [1, 1, 1]

    keys = [item.key for item in items_1 + items_2]
    for view, made in ((one, made_1), (two, made_2)):
        own = {key: contact for (_, key), contact in made.items()}
        assert dict(await links._lookup(view, None, "email", keys)) == own
        async with view.transaction() as tx:
            assert dict(await links._lookup(view, tx, "email", keys)) == own
    # asked again, each tenant finds its contacts and creates none
    before = await counts(raw_db)
    assert await _resolve(two, items_2) == made_2
    assert await _resolve(one, items_1) == made_1
    assert await counts(raw_db) == before


async def test_the_one_click_reads_only_its_tenants_rows(raw_db, rt):
    """The "already done?" read and the undo's status read see the token's contact only in its
    own tenant: another tenant's view finds nothing done and writes nothing."""
    one, two = TenantDb(raw_db, 1), TenantDb(raw_db, 2)
    stopped = {}
    for view, address in ((one, "ann@example.com"), (two, "bob@example.com")):
        contact_id, key = await add_tenant_contact(view, rt, "email", address)
        await add_tenant_preference(view, contact_id, "email", "", "opted_out", key)
        stopped[view.tenant_id] = TokenData(contact_id, "email", "*")
    before = await counts(raw_db)
    for own, other in ((one, two), (two, one)):
        data = stopped[own.tenant_id]
        assert await logic.already_unsubscribed(own, data)
        assert not await logic.already_unsubscribed(other, data)
        assert not await logic.undo(other, data, Proof(source="unsubscribe_page"))
    assert await counts(raw_db) == before
