"""Erasure and consent proof stay in their tenant (issue 18): removing a person of tenant 2
leaves tenant 1's rows as they were, even rows about the same address (its sends, an outbox
job naming it), and the other way round; a proof shows the wording of its own tenant only.

The rows are written through each tenant's view with the tenant in $1 (not through the other
capabilities' writers), so that only this capability's statements are under test. Until
migration T2 the two tenants cannot hold the same address in `address`; `send_log` and
`outbox` have no such unique, so there both tenants hold rows about both addresses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.db.scoped import Scoped
from service.db.tenant_db import TenantDb
from service.privacy.logic import erase
from service.privacy.proof import contact_proof

NOW = datetime.now(UTC)
ANN = ("ann@one.example", "a1" * 32)  # tenant 1's person (normalized address, key)
BEA = ("bea@two.example", "b2" * 32)  # tenant 2's person
WORDING = Scoped("INSERT INTO wording_version (tenant_id, key, text, language, created_at)"
                 " VALUES ($1, $2, $3, 'en', $4)")
CONTACT = Scoped("INSERT INTO contact (tenant_id, id, restricted, created_at, updated_at)"
                 " VALUES ($1, $2, false, $3, $3)")
ADDRESS = Scoped("INSERT INTO address (tenant_id, contact_id, channel, address_key, normalized,"
                 " given, created_at) VALUES ($1, $2, 'email', $3, $4, $4, $5)")
PREFERENCE = Scoped("INSERT INTO preference (tenant_id, contact_id, channel, topic, status,"
                    " updated_at, seq) VALUES ($1, $2, 'email', '', 'opted_in', $3, 0)")
EVENT = Scoped("INSERT INTO consent_event (tenant_id, contact_id, address_key, channel, topic,"
               " action, source, occurred_at, ip, user_agent, wording_version)"
               " VALUES ($1, $2, $3, 'email', '', 'opt_in', 'api', $4, $5, 'Agent/1', $6)")
SEND = Scoped("INSERT INTO send_log (tenant_id, channel, address_key, topic, sent_at)"
              " VALUES ($1, 'email', $2, 'news', $3)")
JOB = Scoped("INSERT INTO outbox (tenant_id, kind, payload, status, attempts, next_attempt_at,"
             " created_at) VALUES ($1, 'email', $2, 'pending', 0, $3, $3)")
# what each tenant holds of this capability's tables, by table
HELD = {
    "contact": "SELECT id, restricted FROM contact WHERE tenant_id = $1 ORDER BY id",
    "address": "SELECT contact_id, address_key, normalized FROM address WHERE tenant_id = $1"
               " ORDER BY address_key",
    "preference": "SELECT contact_id, status FROM preference WHERE tenant_id = $1"
                  " ORDER BY contact_id",
    "consent_event": "SELECT contact_id, ip, user_agent FROM consent_event WHERE tenant_id = $1"
                     " AND action = 'opt_in' ORDER BY id",
    "send_log": "SELECT address_key FROM send_log WHERE tenant_id = $1 ORDER BY address_key",
    "outbox": "SELECT id, payload, last_error FROM outbox WHERE tenant_id = $1 ORDER BY id",
}


async def _person(view: TenantDb, contact_id: str, own: tuple[str, str], other: tuple[str, str],
                  ip: str) -> None:
    """A contact with its address, a preference, an event with IP and user agent (naming the
    wording `signup`), sends to both addresses and an email to each."""
    normalized, key = own
    async with view.transaction() as tx:
        await tx.execute(CONTACT, contact_id, NOW)
        await tx.execute(ADDRESS, contact_id, key, normalized, NOW)
        await tx.execute(PREFERENCE, contact_id, NOW)
        await tx.execute(EVENT, contact_id, key, NOW, ip, "signup")
        for address, address_key in (own, other):
            await tx.execute(SEND, address_key, NOW)
            await tx.execute(JOB, json.dumps({"to": address, "template": "news"}), NOW)


async def _held(raw_db, tenant_id: int) -> dict[str, list[tuple]]:
    return {table: [tuple(row) for row in await raw_db.fetch(sql, tenant_id)]
            for table, sql in HELD.items()}


async def test_an_erasure_leaves_the_other_tenants_rows(db, raw_db):
    one, two = db, TenantDb(raw_db, 2)
    await one.execute(WORDING, "signup", "Tenant one's words", NOW)
    await _person(one, "contact-ann", ANN, BEA, "198.51.100.1")
    await _person(two, "contact-bea", BEA, ANN, "198.51.100.2")

    # the proof of each shows its own tenant's wording (tenant 2 has no `signup`)
    assert [e.wording_text for e in (await contact_proof(one, "contact-ann")).entries] == [
        "Tenant one's words"]
    assert [e.wording_text for e in (await contact_proof(two, "contact-bea")).entries] == [None]
    assert (await contact_proof(two, "contact-bea")).entries[0].addresses == [BEA[0]]

    before = await _held(raw_db, 1)
    removal = await erase(two, "contact-bea", source="admin")
    assert (removal.addresses, removal.outbox_deleted) == (1, 1)
    assert await _held(raw_db, 1) == before  # Bea's sends and email in tenant 1 included
    gone = await _held(raw_db, 2)
    assert gone["contact"] == gone["address"] == gone["preference"] == []
    assert gone["consent_event"] == [("contact-bea", None, None)]
    assert gone["send_log"] == [(ANN[1],)]
    assert [json.loads(p) if isinstance(p, str) else p for _, p, _ in gone["outbox"]] == [
        {"to": ANN[0], "template": "news"}]

    before = await _held(raw_db, 2)
    await erase(one, "contact-ann", source="admin")
    assert await _held(raw_db, 2) == before  # Ann's send and email in tenant 2 included
    assert (await _held(raw_db, 1))["send_log"] == [(BEA[1],)]
