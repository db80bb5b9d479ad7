"""Erasure: nothing personal left anywhere, the proof kept, the person blocked for good."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.consent.decision import decide, lookup_state
from tests.privacy.conftest import EMAIL, IP, PHONE, UA, find_everywhere


async def _decision(db, channel: str, key: str, topic_key: str | None) -> list[str]:
    from service.topics.cache import TopicCache

    topic = await TopicCache().get(db, topic_key) if topic_key else None
    return decide(await lookup_state(db, channel, key), topic, datetime.now(UTC))


async def test_after_erasure_no_table_holds_the_address_ip_or_user_agent(client, db, person,
                                                                          make_key):
    needles = [person.email, EMAIL, person.phone, PHONE, IP, UA]
    before = {n for _, _, n in await find_everywhere(db, needles)}
    assert before == set(needles)  # the scan does see them where they are
    other = await client.post("/v1/contacts", headers=await make_key("contacts:write"),
                              json={"addresses": [{"channel": "email",
                                                   "address": "bob@example.com"}]})
    assert other.status_code == 201

    response = await client.delete(f"/v1/contacts/{person.contact_id}",
                                   headers=await make_key("contacts:write"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["erased"] is True and body["addresses"] == 2
    assert body["suppressions_added"] == 2 and body["ledger_events_scrubbed"] == person.events
    assert (body["outbox_deleted"], body["outbox_redacted"]) == (2, 1)

    assert await find_everywhere(db, needles) == []
    # what is kept: every ledger event (the proof), without IP or user agent, plus one
    # `erased` event per address; suppressions keyed by address key, without a contact id
    events = await db.fetch("SELECT action, ip, user_agent, wording_version FROM consent_event"
                            " WHERE contact_id = $1 ORDER BY id", person.contact_id)
    assert [e["action"] for e in events] == ["pending", "confirmed", "opt_out", "opt_in",
                                             "paused", "erased", "erased"]
    assert all(e["ip"] is None and e["user_agent"] is None for e in events)
    assert events[1]["wording_version"] == "signup-v1"
    erased = await db.fetch("SELECT channel, address_key, topic, contact_id FROM suppression"
                            " WHERE reason = 'erased' ORDER BY channel")
    assert [tuple(r) for r in erased] == [("email", person.email_key, "", None),
                                          ("sms", person.phone_key, "", None)]
    for table in ("contact", "address", "preference"):
        assert await db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE"
                                 f" {'id' if table == 'contact' else 'contact_id'} = $1",
                                 person.contact_id) == 0
    # the other person's data is untouched; the redacted webhook job is still queued
    assert await db.fetchval("SELECT COUNT(*) FROM address WHERE normalized = $1",
                             "bob@example.com") == 1
    hook = await db.fetchrow("SELECT status, payload FROM outbox WHERE kind = 'webhook'")
    payload = hook["payload"] if isinstance(hook["payload"], dict) else json.loads(
        hook["payload"])
    assert hook["status"] == "pending" and "[erased]" in payload["event"]["note"]


async def test_erased_addresses_stay_blocked_for_everything(client, db, person, make_key):
    assert await client.delete(f"/v1/contacts/{person.contact_id}",
                               headers=await make_key("contacts:write"))
    for channel, key in (("email", person.email_key), ("sms", person.phone_key)):
        for topic in (None, "newsletter", "offers", "account"):
            assert "erased" in await _decision(db, channel, key, topic)
    # a later API call carrying the address makes a new contact, which is still blocked
    again = await client.post("/v1/contacts", headers=await make_key("contacts:write"),
                              json={"addresses": [{"channel": "email", "address": EMAIL}]})
    assert again.status_code == 201
    assert again.json()["id"] != person.contact_id
    assert "erased" in await _decision(db, "email", person.email_key, "account")


async def test_erasure_is_404_for_unknown_or_already_erased_and_needs_write_scope(
        client, db, person, make_key):
    url = f"/v1/contacts/{person.contact_id}"
    assert (await client.delete(url, headers=await make_key("contacts:read"))).status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 1
    writer = await make_key("contacts:write")
    assert (await client.delete(url, headers=writer)).status_code == 200
    again = await client.delete(url, headers=writer)
    assert again.status_code == 404
    assert again.json()["errors"][0]["field"] == "contact_id"
    assert (await client.get(f"{url}/export", headers=writer)).status_code in (403, 404)
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE reason = 'erased'") == 2


async def test_erasure_by_admin_key_is_recorded_with_admin_source(client, db, person,
                                                                  admin_headers):
    assert (await client.delete(f"/v1/contacts/{person.contact_id}",
                                headers=admin_headers)).status_code == 200
    sources = await db.fetch("SELECT source, api_key_id FROM consent_event"
                             " WHERE action = 'erased'")
    assert {r["source"] for r in sources} == {"admin"}
    assert all(r["api_key_id"] for r in sources)


async def test_erasure_is_one_transaction_all_or_nothing(client, db, person, make_key,
                                                         monkeypatch):
    from service.privacy import erasure

    async def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "scrub_outbox", broken)
    response = await client.delete(f"/v1/contacts/{person.contact_id}",
                                   headers=await make_key("contacts:write"))
    assert response.status_code == 500
    assert await db.fetchval("SELECT COUNT(*) FROM address WHERE contact_id = $1",
                             person.contact_id) == 2
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE reason = 'erased'") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE ip IS NOT NULL"
                             " AND contact_id = $1", person.contact_id) == person.events


async def test_ledger_details_naming_the_person_are_blanked(client, db, person, make_key):
    """Blanked whole, never rewritten: the event's detail digest keeps its hash chain
    verifiable (tests/consent/test_ledger_chain.py)."""
    from service.consent.ledger import Proof, record_event

    async with db.transaction() as tx:
        await record_event(tx, contact_id=person.contact_id, channel="email", topic=None,
                           action="opt_out", proof=Proof(source="mailto"),
                           detail={"from": f"{EMAIL.upper()} via {IP}", "kept": "yes"})
        await record_event(tx, contact_id=person.contact_id, channel="email", topic=None,
                           action="opt_out", proof=Proof(source="admin"),
                           detail={"note": "nothing personal"})
    await client.delete(f"/v1/contacts/{person.contact_id}",
                        headers=await make_key("contacts:write"))
    assert await find_everywhere(db, [person.email, IP]) == []
    row = await db.fetchrow("SELECT detail, detail_digest FROM consent_event"
                            " WHERE source = 'mailto'")
    assert row["detail"] is None and row["detail_digest"]
    kept = await db.fetchval("SELECT detail FROM consent_event WHERE source = 'admin'"
                             " AND action = 'opt_out'")
    assert (kept if isinstance(kept, dict) else json.loads(kept)) == {"note": "nothing personal"}


async def test_privacy_routes_are_in_the_openapi_schema(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in ("/v1/contacts/{contact_id}/export", "/v1/contacts/{contact_id}/restriction",
                 "/v1/consent-proof/topics/{key}", "/v1/wording-versions"):
        assert path in paths, path
    assert "delete" in paths["/v1/contacts/{contact_id}"]
