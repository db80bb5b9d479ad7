"""Adding suppressions in bulk and lifting one, with the audit trail."""

from __future__ import annotations

ADD = "/v1/suppressions"
CHECK = "/v1/suppressions/check"


async def reasons(client, headers, address, channel="email", topic=None):
    params = {"channel": channel, "address": address, **({"topic": topic} if topic else {})}
    return (await client.get(CHECK, params=params, headers=headers)).json()["reasons"]


async def test_bulk_add_counts_added_and_already(client, world, writer, db):
    await world.suppress("ann@example.com", "hard_bounce")
    response = await client.post(ADD, headers=writer, json={
        "channel": "email", "reason": "hard_bounce", "source": "crm-sync",
        "addresses": ["Ann@Example.com", "bob@example.com", "BOB@example.com",
                      world.key("email", "cy@example.com")]})
    assert response.status_code == 200, response.text
    assert response.json() == {"added": 2, "already": 1}
    assert await reasons(client, writer, "cy@example.com") == ["hard_bounce"]
    rows = await db.fetch("SELECT source, reason FROM suppression ORDER BY id")
    assert [tuple(r) for r in rows][1:] == [("crm-sync", "hard_bounce")] * 2
    feed = await db.fetchval("SELECT COUNT(*) FROM change_feed WHERE kind = 'suppression'")
    assert feed == 3


async def test_an_invalid_address_refuses_the_whole_request(client, world, writer, db):
    response = await client.post(ADD, headers=writer, json={
        "channel": "email", "reason": "manual",
        "addresses": ["ann@example.com", "broken", "bob@example.com", "also@broken@"]})
    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["addresses[1]", "addresses[3]"]
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0


async def test_topic_and_list_name_and_validation(client, world, writer, db):
    ok = await client.post(ADD, headers=writer, json={
        "channel": "phone", "reason": "external_list", "list_name": "TPS",
        "addresses": ["020 7946 0958"]})
    assert ok.json() == {"added": 1, "already": 0}
    assert await db.fetchval("SELECT list_name FROM suppression") == "TPS"
    topic = await client.post(ADD, headers=writer, json={
        "channel": "email", "reason": "unsubscribed", "topic": "offers",
        "addresses": ["ann@example.com"]})
    assert topic.status_code == 200
    assert await reasons(client, writer, "ann@example.com", topic="offers") == ["unsubscribed"]
    assert await reasons(client, writer, "ann@example.com") == []
    for body, field in [({"reason": "because"}, "reason"), ({"channel": "pigeon"}, "channel"),
                        ({"topic": "nope"}, "topic"), ({"addresses": []}, "addresses")]:
        bad = await client.post(ADD, headers=writer, json={
            "channel": "email", "reason": "manual", "addresses": ["x@example.com"], **body})
        assert bad.status_code == 422, body
        assert bad.json()["errors"][0]["field"] == field


async def test_adding_needs_the_write_scope(client, world, reader):
    response = await client.post(ADD, headers=reader, json={
        "channel": "email", "reason": "manual", "addresses": ["ann@example.com"]})
    assert response.status_code == 403


async def test_a_contacts_suppression_is_recorded_in_the_ledger(client, world, writer, db):
    contact = await world.contact("ann@example.com")
    await client.post(ADD, headers=writer, json={
        "channel": "email", "reason": "manual", "addresses": ["ann@example.com"]})
    assert await db.fetchval("SELECT contact_id FROM suppression") == contact
    event = await db.fetchrow("SELECT action, source, detail FROM consent_event"
                              " WHERE contact_id = $1", contact)
    assert (event["action"], event["source"]) == ("suppressed", "api")
    assert "manual" in str(event["detail"])


async def test_lifting_a_suppression_with_a_ledger_entry(client, world, writer, db):
    contact = await world.contact("ann@example.com")
    await world.suppress("ann@example.com", "hard_bounce")
    await world.suppress("ann@example.com", "complaint")
    lifted = await client.delete("/v1/suppressions/email/ann@example.com",
                                 params={"reason": "hard_bounce", "note": "mailbox fixed"},
                                 headers=writer)
    assert lifted.status_code == 200, lifted.text
    body = lifted.json()
    assert body["reason"] == "hard_bounce"
    assert body["remaining"] == [{"topic": None, "reason": "complaint"}]
    assert await reasons(client, writer, "ann@example.com") == ["complaint"]
    event = await db.fetchrow("SELECT action, detail FROM consent_event WHERE contact_id = $1",
                              contact)
    assert event["action"] == "unsuppressed" and "mailbox fixed" in str(event["detail"])
    removed = await db.fetchrow("SELECT op, value, source FROM change_feed ORDER BY seq DESC")
    assert tuple(removed) == ("removed", "hard_bounce", "api")


async def test_complaints_and_erasures_cannot_be_lifted(client, world, writer, db):
    for reason in ("complaint", "erased"):
        await world.suppress("ann@example.com", reason)
        response = await client.delete("/v1/suppressions/email/ann@example.com",
                                       params={"reason": reason}, headers=writer)
        assert response.status_code == 409
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 2


async def test_lifting_by_key_without_a_contact_and_the_404s(client, world, writer, db):
    await world.suppress("+442079460958", "manual", channel="phone")
    key = world.key("phone", "+442079460958")
    missing = await client.delete(f"/v1/suppressions/phone/{key}", params={"reason": "invalid"},
                                  headers=writer)
    assert missing.status_code == 404
    ok = await client.delete(f"/v1/suppressions/phone/{key}", params={"reason": "manual"},
                             headers=writer)
    assert ok.status_code == 200 and ok.json()["remaining"] == []
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == 0
    no_reason = await client.delete(f"/v1/suppressions/phone/{key}", headers=writer)
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"] == [{"field": "query.reason", "message": "is required"}]
    bad = await client.delete("/v1/suppressions/email/nonsense", params={"reason": "manual"},
                              headers=writer)
    assert bad.status_code == 422
