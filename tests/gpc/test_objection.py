"""Objection to direct marketing (GDPR art. 21): `POST /v1/contacts/{id}/objection` and the
preference centre's button stop every marketing check on every channel, leave transactional
messages allowed, and are one `objected` event in the ledger and the proof; on both engines."""

from __future__ import annotations

import json

import pytest

from service.consent.ledger import Proof, set_preference
from service.security.tokens import TokenData
from tests.preferences.seed import add_contact, add_topic, csrf_token, snapshot

EMAIL, SMS, POST = "ann@example.com", "+44 7911 123456", "1 High Street\nLondon\nSW1A 1AA"
MARKETING = {"newsletter": ("email", "sms", "post"), "offers": ("email", "sms", "post"),
             "partners": ("email", "sms")}
ADDRESS = {"email": EMAIL, "sms": SMS, "post": POST}


@pytest.fixture
async def ann(db, rt):
    await add_topic(db, "newsletter", "Newsletter", ["email", "sms", "post"], "consent")
    await add_topic(db, "offers", "Offers", ["email", "sms", "post"], "legitimate_interest")
    await add_topic(db, "partners", "Partner offers", ["email", "sms"], "soft_opt_in",
                    sale_or_sharing=True)
    await add_topic(db, "account", "Account notices", ["email", "sms", "post"],
                    transactional=True)
    contact_id = await add_contact(db, rt, [("email", EMAIL), ("sms", SMS), ("post", POST)])
    async with db.transaction() as tx:  # a standing consent the objection must override
        for channel in ("email", "sms"):
            await set_preference(tx, contact_id=contact_id, channel=channel, topic="newsletter",
                                 action="opt_in", proof=Proof(source="api"))
    return contact_id


async def check(client, headers, channel: str, topic: str) -> dict:
    response = await client.get("/v1/suppressions/check", headers=headers, params={
        "channel": channel, "address": ADDRESS[channel], "topic": topic})
    assert response.status_code == 200, response.text
    return response.json()


async def assert_all_marketing_stopped(client, headers) -> None:
    for topic, channels in MARKETING.items():
        for channel in channels:
            answer = await check(client, headers, channel, topic)
            assert answer["allowed"] is False, (channel, topic)
            assert "opted_out" in answer["reasons"] and "unsubscribed" in answer["reasons"]
    for channel in ADDRESS:  # service messages still go out
        answer = await check(client, headers, channel, "account")
        assert answer == {**answer, "allowed": True, "reasons": []}, channel


async def test_objection_stops_every_marketing_check_and_is_one_event(client, db, ann,
                                                                      make_key):
    reader = await make_key("suppressions:read", "contacts:read")
    writer = await make_key("contacts:write")
    assert (await check(client, reader, "email", "newsletter"))["allowed"] is True
    assert (await check(client, reader, "post", "offers"))["allowed"] is True

    response = await client.post(f"/v1/contacts/{ann}/objection", headers=writer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recorded"] is True and sorted(body["channels"]) == ["email", "post", "sms"]
    await assert_all_marketing_stopped(client, reader)

    objected = await db.fetch("SELECT * FROM consent_event WHERE action = 'objected'")
    assert len(objected) == 1
    [event] = objected
    assert (event["id"], event["channel"], event["topic"], event["source"]) == (
        body["event_id"], "*", "", "api")
    assert event["api_key_id"] is not None
    stops = await db.fetch("SELECT * FROM consent_event WHERE source = 'objection'")
    assert sorted((e["channel"], e["topic"], e["action"]) for e in stops) == [
        ("email", "", "opt_out"), ("post", "", "opt_out"), ("sms", "", "opt_out")]
    assert all(json.loads(e["detail"])["objection"] == event["id"] for e in stops)

    # a repeat writes nothing and still answers 200
    before = await snapshot(db)
    again = await client.post(f"/v1/contacts/{ann}/objection", headers=writer)
    assert again.status_code == 200
    assert again.json() == {**body, "recorded": False, "channels": []}
    assert await snapshot(db) == before

    # the proof report shows it, in JSON and on the printable page
    proof = (await client.get(f"/v1/consent-proof/contacts/{ann}", headers=reader)).json()
    assert proof["objections"] == 1
    [entry] = [e for e in proof["entries"] if e["kind"] == "objection"]
    assert (entry["event_id"], entry["source"], entry["channel"]) == (event["id"], "api", "*")
    linked = [e for e in proof["entries"] if e["objection"] == event["id"]]
    assert len(linked) == 3 and {e["kind"] for e in linked} == {"withdrawal"}
    page = await client.get(f"/v1/consent-proof/contacts/{ann}", headers=reader,
                            params={"format": "html"})
    assert "objection to all direct marketing, GDPR art. 21" in page.text
    assert f"following objection {event['id']}" in page.text


async def test_objection_needs_a_known_contact_and_the_write_scope(client, db, ann, make_key):
    before = await snapshot(db)
    writer = await make_key("contacts:write")
    missing = await client.post("/v1/contacts/no-such-contact/objection", headers=writer)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "contact_id"
    reader = await make_key("contacts:read")
    refused = await client.post(f"/v1/contacts/{ann}/objection", headers=reader)
    assert refused.status_code == 403
    assert await snapshot(db) == before


async def test_a_new_objection_after_switching_back_on_is_recorded_again(client, db, ann,
                                                                        make_key):
    writer = await make_key("contacts:write")
    assert (await client.post(f"/v1/contacts/{ann}/objection", headers=writer)).json()[
        "recorded"]
    put = await client.put(f"/v1/contacts/{ann}/preferences", headers=writer, json={
        "preferences": [{"channel": "sms", "topic": None, "status": "opted_in"}]})
    assert put.status_code == 200, put.text
    again = (await client.post(f"/v1/contacts/{ann}/objection", headers=writer)).json()
    assert again["recorded"] is True and again["channels"] == ["sms"]
    assert await db.fetchval(
        "SELECT COUNT(*) FROM consent_event WHERE action = 'objected'") == 2


async def test_the_preference_centre_button_objects_in_one_step(client, db, rt, ann, make_key):
    reader = await make_key("suppressions:read")
    url = f"/p/{rt.signer.sign('preferences', TokenData(ann, 'email', '*'))}"
    page = await client.get(url)
    assert "Object to all marketing" in page.text
    done = await client.post(url, data={"_csrf_token": csrf_token(page.text),
                                        "action": "object"},
                             headers={"User-Agent": "AnnBrowser/1"})
    assert done.status_code == 200
    assert "Your objection to all direct marketing is recorded" in done.text
    assert "Email: all marketing switched off" in done.text
    await assert_all_marketing_stopped(client, reader)
    [event] = await db.fetch("SELECT * FROM consent_event WHERE action = 'objected'")
    assert (event["source"], event["user_agent"]) == ("preference_centre", "AnnBrowser/1")
