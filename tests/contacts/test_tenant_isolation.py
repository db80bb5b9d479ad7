"""Tenants (issue 18): one tenant's contacts and addresses, written through the API's logic or
an import (COPY on PostgreSQL), are invisible to, and left alone by, another tenant's look-ups,
upserts, changes, imports and export, on both engines. Until migration T2 drops the old uniques
(contact.external_ref, address (channel, address_key)), the two tenants use different refs and
addresses."""

from __future__ import annotations

import io

import pytest

from service.contacts import importer
from service.contacts.logic import (
    ParsedAddress,
    change_contact,
    find_contacts,
    get_contact,
    save_contact,
)
from service.contacts.store import addresses_of, contact_addresses, contact_exists
from service.db.tenant_db import TenantDb
from service.errors import NotFound

HEADER = "external_ref,channel,address,topic,status\n"


def address(rt, raw: str, field: str = "addresses[0].address") -> ParsedAddress:
    normalized, key = rt.parse_address("email", raw)
    return ParsedAddress(field, "email", normalized, key, raw)


async def rows_of(raw_db, tenant_id: int) -> list[tuple]:
    rows = await raw_db.fetch(
        "SELECT c.external_ref, a.normalized FROM contact c"
        " LEFT JOIN address a ON a.contact_id = c.id WHERE c.tenant_id = $1"
        " AND (a.tenant_id = $1 OR a.id IS NULL) ORDER BY c.external_ref, a.normalized",
        tenant_id)
    return [tuple(r) for r in rows]


async def test_contacts_of_another_tenant_are_not_found_nor_changed(db, raw_db, rt):
    other = TenantDb(raw_db, 2)
    theirs, _ = await save_contact(other, "crm-b", [address(rt, "bea@example.com")])
    ours, _ = await save_contact(db, "crm-a", [address(rt, "ann@example.com")])
    before = await rows_of(raw_db, 2)
    assert before == [("crm-b", "bea@example.com")]

    with pytest.raises(NotFound):
        await get_contact(db, theirs["id"])
    with pytest.raises(NotFound):
        await change_contact(db, theirs["id"], add=[address(rt, "new@example.com")], remove=[],
                             external_ref="crm-x", set_external_ref=True)
    assert await find_contacts(db, external_ref="crm-b") == []
    assert await find_contacts(db, address=address(rt, "bea@example.com")) == []
    assert not await contact_exists(db, theirs["id"])
    assert await addresses_of(db, theirs["id"]) == []
    assert await contact_addresses(db, theirs["id"]) is None
    assert [c["id"] for c in await find_contacts(other, external_ref="crm-b")] == [theirs["id"]]
    assert (await get_contact(other, theirs["id"]))["addresses"][0]["address"] == \
        "bea@example.com"
    with pytest.raises(NotFound):
        await get_contact(other, ours["id"])
    assert await rows_of(raw_db, 2) == before


async def test_an_import_writes_into_its_tenant_only(db, raw_db, rt):
    """Tenant 2's import (its view of the runtime: its database view and topics) creates its
    contacts, addresses and consents, COPYed on PostgreSQL, in tenant 2; tenant 1's import,
    look-ups and export never meet them, and tenant 1's topics are unknown to tenant 2."""
    other = rt.for_tenant(2)
    ours = await importer.import_contacts(rt, io.BytesIO((
        HEADER + "crm-a,email,ann@example.com,newsletter,opted_in\n").encode()))
    theirs = await importer.import_contacts(other, io.BytesIO((
        HEADER + "crm-b,email,bea@example.com,,opted_in\n"
        + "crm-c,email,cy@example.com,,\n"
        + "crm-b,email,bea@work.example,,\n"
        + "crm-d,email,di@example.com,newsletter,opted_in\n").encode()))
    assert (ours.created, ours.consents, ours.rejected) == (1, 1, 0)
    assert (theirs.created, theirs.matched, theirs.consents, theirs.rejected) == (2, 1, 1, 1)
    assert theirs.rejections == [(5, "topic: unknown topic 'newsletter'")]
    assert await rows_of(raw_db, 1) == [("crm-a", "ann@example.com")]
    assert await rows_of(raw_db, 2) == [("crm-b", "bea@example.com"),
                                        ("crm-b", "bea@work.example"),
                                        ("crm-c", "cy@example.com")]
    for table in ("preference", "consent_event"):
        counts = await raw_db.fetch(f"SELECT tenant_id, COUNT(*) FROM {table}"
                                    " GROUP BY tenant_id ORDER BY tenant_id")
        assert [tuple(r) for r in counts] == [(1, 1), (2, 1)], table

    # tenant 1 again: the same rows match its own contact, nothing of tenant 2's
    again = await importer.import_contacts(rt, io.BytesIO((
        HEADER + "crm-a,email,ann@example.com,,\n").encode()))
    assert (again.created, again.matched) == (0, 1)
    assert await find_contacts(db, external_ref="crm-b") == []
    out = io.StringIO()
    assert await importer.export_contacts(rt, out) == 1
    assert "bea@" not in out.getvalue() and "ann@example.com" in out.getvalue()
    out = io.StringIO()
    await importer.export_contacts(other, out)
    assert "ann@" not in out.getvalue() and "cy@example.com" in out.getvalue()
