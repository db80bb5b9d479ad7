"""Restriction of processing (GDPR art. 18): marketing stops, transactional mail goes on,
nothing is deleted."""

from __future__ import annotations

from tests.privacy.test_erasure import _decision


async def test_restriction_blocks_marketing_but_not_transactional(client, db, person,
                                                                  make_key):
    writer = await make_key("contacts:write")
    assert await _decision(db, "email", person.email_key, "newsletter") == []
    assert await _decision(db, "sms", person.phone_key, "newsletter") == []
    url = f"/v1/contacts/{person.contact_id}/restriction"

    response = await client.put(url, headers=writer, json={
        "restricted": True, "reason": "accuracy contested"})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": person.contact_id, "restricted": True, "changed": True}
    for channel, key in (("email", person.email_key), ("sms", person.phone_key)):
        assert "restricted" in await _decision(db, channel, key, "newsletter")
        assert "restricted" in await _decision(db, channel, key, None)
        assert await _decision(db, channel, key, "account") == []
    # nothing deleted, and the ledger says who restricted it and why
    export = (await client.get(f"/v1/contacts/{person.contact_id}/export",
                               headers=await make_key("contacts:read"))).json()
    assert export["contact"]["restricted"] is True
    assert len(export["addresses"]) == 2 and len(export["preferences"]) == 3
    restricted = [e for e in export["consent_events"] if e["action"] == "restricted"]
    assert {e["channel"] for e in restricted} == {"email", "sms"}
    assert restricted[0]["detail"] == {"reason": "accuracy contested"}
    assert restricted[0]["source"] == "api"

    again = await client.put(url, headers=writer, json={"restricted": True})
    assert again.json()["changed"] is False
    lifted = await client.put(url, headers=writer, json={"restricted": False})
    assert lifted.json() == {"id": person.contact_id, "restricted": False, "changed": True}
    assert await _decision(db, "email", person.email_key, "newsletter") == []
    actions = [r[0] for r in await db.fetch(
        "SELECT action FROM consent_event WHERE contact_id = $1 AND action LIKE '%restricted'"
        " ORDER BY id", person.contact_id)]
    assert actions == ["restricted", "restricted", "unrestricted", "unrestricted"]


async def test_restriction_mirrors_reach_the_change_feed(client, db, person, make_key):
    await client.put(f"/v1/contacts/{person.contact_id}/restriction",
                     headers=await make_key("contacts:write"), json={"restricted": True})
    rows = await db.fetch("SELECT channel, address_key, value FROM change_feed"
                          " WHERE value = 'restricted' ORDER BY seq")
    assert {(r["channel"], r["address_key"]) for r in rows} == {
        ("email", person.email_key), ("sms", person.phone_key)}


async def test_bad_restriction_input_is_422_and_writes_nothing(client, db, person, make_key):
    writer = await make_key("contacts:write")
    url = f"/v1/contacts/{person.contact_id}/restriction"
    events = await db.fetchval("SELECT COUNT(*) FROM consent_event")
    for body in ({"restricted": "maybe"}, {}, {"restricted": True, "reason": "x" * 501},
                 {"restricted": True, "extra": 1}):
        response = await client.put(url, headers=writer, json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"] and response.json()["errors"][0]["field"]
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == events
    assert not await db.fetchval("SELECT restricted FROM contact WHERE id = $1",
                                 person.contact_id)
    missing = await client.put("/v1/contacts/nope/restriction", headers=writer,
                               json={"restricted": True})
    assert missing.status_code == 404
    reader = await make_key("contacts:read")
    assert (await client.put(url, headers=reader, json={"restricted": True})).status_code == 403
