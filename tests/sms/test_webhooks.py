"""Inbound SMS over HTTP, on both engines: STOP, START and HELP from Twilio and Plivo, signed
as each provider signs; forged, unsigned and replayed requests write nothing."""

from __future__ import annotations

from service.sms import plivo, twilio
from service.sms.logic import RATES
from tests.conftest import follow_feed
from tests.sms.conftest import (
    BASE,
    OTHER_OUR_NUMBER,
    PLIVO_TOKEN,
    SUPPORT,
    TWILIO_TOKEN,
    plivo_form,
    post_plivo,
    post_twilio,
    twilio_form,
)

CHECK = "/v1/suppressions/check"
TWILIO_URL = f"{BASE}/v1/webhooks/twilio"
PERSON = "+447911123456"
STRANGER = "+447911654321"


async def check(client, headers, address: str) -> dict:
    response = await client.get(CHECK, params={"channel": "sms", "address": address},
                                headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_stop_from_an_unknown_number_suppresses_it_and_confirms_once(
        client, db, make_key, rt, counts):
    reader = await make_key("suppressions:read")
    response = await post_twilio(client, twilio_form(PERSON, "Please stop."))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Response><Message>" in response.text
    assert "You will receive no more messages" in response.text
    rows = await db.fetch("SELECT reason, source, contact_id, topic FROM suppression"
                          " WHERE channel = 'sms'")
    assert [tuple(r) for r in rows] == [("unsubscribed", "sms_keyword", None, "")]
    assert await check(client, reader, PERSON) == {
        "channel": "sms", "address": PERSON, "topic": None, "allowed": False,
        "reasons": ["unsubscribed"], "next_allowed_at": None}
    entries, _ = await follow_feed(client, reader, channel="sms")
    key = rt.parse_address("sms", PERSON)[1]
    assert [(e["op"], e["address_key"], e["reason"], e["source"]) for e in entries] == [
        ("added", key, "unsubscribed", "sms_keyword")]
    # a second STOP, to another of our numbers: already covered, no second confirmation
    before = await counts()
    again = await post_twilio(client, twilio_form(PERSON, "STOP", to=OTHER_OUR_NUMBER))
    assert again.status_code == 200
    assert "<Message>" not in again.text
    assert (await counts())["suppression"] == before["suppression"]


async def test_stop_from_a_contacts_number_is_their_opt_out_with_the_text_as_proof(
        client, db, admin_headers):
    created = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "sms", "address": "07911 123456"},
                      {"channel": "email", "address": "ann@example.com"}]})
    contact = created.json()["id"]
    form = twilio_form(PERSON, "STOP texting me", sid="SM0123456789abcdef0123456789abcdef")
    assert (await post_twilio(client, form)).status_code == 200
    events = (await client.get(f"/v1/contacts/{contact}/events",
                               headers=admin_headers)).json()["events"]
    assert [(e["channel"], e["topic"], e["action"], e["source"]) for e in events] == [
        ("sms", None, "opt_out", "sms_keyword")]
    assert events[0]["detail"]["text"] == "STOP texting me"
    assert events[0]["detail"]["provider"] == "twilio"
    assert events[0]["detail"]["message_id"] == "SM0123456789abcdef0123456789abcdef"
    assert events[0]["message_ref"] == "twilio:SM0123456789abcdef0123456789abcdef"
    # email is another channel: untouched
    email = await client.get(CHECK, params={"channel": "email", "address": "ann@example.com"},
                             headers=admin_headers)
    assert email.json()["allowed"] is True
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE channel = 'sms'"
                             " AND contact_id = $1", contact) == 1


async def test_start_resumes_only_from_the_number_that_stopped(client, admin_headers, counts):
    await post_twilio(client, twilio_form(PERSON, "STOP"))
    before = await counts()
    other = await post_twilio(client, twilio_form(STRANGER, "START"))
    assert other.status_code == 200
    assert "<Message>" not in other.text
    after = await counts()
    assert {k: after[k] - before[k] for k in after} == {
        "sms_message": 1, "suppression": 0, "consent_event": 0, "change_feed": 0,
        "preference": 0}
    assert (await check(client, admin_headers, PERSON))["allowed"] is False

    same = await post_twilio(client, twilio_form(PERSON, "unstop"))
    assert "subscribed again" in same.text
    assert (await check(client, admin_headers, PERSON))["allowed"] is True


async def test_start_does_not_lift_what_the_person_did_not_set(client, admin_headers):
    added = await client.post("/v1/suppressions", headers=admin_headers, json={
        "channel": "sms", "reason": "manual", "addresses": [PERSON]})
    assert added.status_code in (200, 201), added.text
    response = await post_twilio(client, twilio_form(PERSON, "YES"))
    assert "<Message>" not in response.text
    assert (await check(client, admin_headers, PERSON))["reasons"] == ["manual"]


async def test_help_replies_with_who_we_are_and_how_to_stop(client, counts):
    before = await counts()
    response = await post_twilio(client, twilio_form(PERSON, "help"))
    assert response.status_code == 200
    text = response.text
    for part in ("Example Ltd", SUPPORT, RATES, "Reply STOP"):
        assert part.replace("&", "&amp;") in text
    after = await counts()
    assert after["suppression"] == before["suppression"]
    assert after["sms_message"] == before["sms_message"] + 1


async def test_other_texts_change_nothing_and_get_no_reply(client, counts):
    before = await counts()
    response = await post_twilio(client, twilio_form(PERSON, "Is the sale on until Sunday?"))
    assert response.text.endswith("<Response></Response>")
    after = await counts()
    assert after["suppression"] == before["suppression"]


async def test_twilio_advanced_opt_out_type_is_obeyed_without_a_second_reply(
        client, admin_headers):
    response = await post_twilio(client, twilio_form(PERSON, "arret", OptOutType="STOP"))
    assert "<Message>" not in response.text  # Twilio has sent its own confirmation
    assert (await check(client, admin_headers, PERSON))["reasons"] == ["unsubscribed"]


async def test_a_replayed_message_id_gets_the_same_outcome_and_writes_nothing_twice(
        client, counts):
    form = twilio_form(PERSON, "STOP", sid="SMreplayed000000000000000000000001")
    first = await post_twilio(client, form)
    assert "<Message>" in first.text
    before = await counts()
    for _ in range(2):
        again = await post_twilio(client, form)
        assert again.status_code == 200
        assert "<Message>" not in again.text  # one confirmation, ever
    assert await counts() == before
    # the same id from another provider is another message
    other = await post_plivo(client, plivo_form("447911123456", "STOP",
                                                uuid_="SMreplayed000000000000000000000001"))
    assert other.status_code == 200
    assert (await counts())["sms_message"] == before["sms_message"] + 1


async def test_forged_and_unsigned_requests_are_refused_and_write_nothing(client, counts):
    before = await counts()
    form = twilio_form(PERSON, "STOP")
    refused = [
        await post_twilio(client, form, signature=None),
        await post_twilio(client, form, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        await post_twilio(client, {**form, "From": STRANGER},
                          signature=twilio.signature(TWILIO_TOKEN, TWILIO_URL, form.items())),
        await post_plivo(client, plivo_form("447911123456", "STOP"), signature=None),
        await post_plivo(client, plivo_form("447911123456", "STOP"), signature="bm90IGl0"),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.json()["errors"][0]["field"] == "signature"
    assert await counts() == before


async def test_plivo_stop_start_and_help(client, admin_headers):
    stop = await post_plivo(client, plivo_form("447911123456", "Stopp"))
    assert stop.status_code == 200, stop.text
    assert stop.headers["content-type"].startswith("text/xml")
    assert '<Message src="447700900001" dst="447911123456" type="sms">' in stop.text
    assert (await check(client, admin_headers, PERSON))["reasons"] == ["unsubscribed"]
    # several signatures (one per active auth token): any one verifies
    form = plivo_form("447911123456", "START")
    good = plivo.signature(PLIVO_TOKEN, f"{BASE}/v1/webhooks/plivo", form.items(),
                           "12345678901234567890")
    start = await post_plivo(client, form, signature=f"b3RoZXI=, {good}")
    assert "subscribed again" in start.text
    assert (await check(client, admin_headers, PERSON))["allowed"] is True
    help_ = await post_plivo(client, plivo_form("447911123456", "INFO"))
    assert RATES.replace("&", "&amp;") in help_.text


async def test_a_provider_without_its_secret_refuses_everything(client, settings, counts):
    settings.twilio_auth_token = ""
    response = await post_twilio(client, twilio_form(PERSON, "STOP"))
    assert response.status_code == 403
    assert "TWILIO_AUTH_TOKEN" in response.json()["detail"]
    assert (await counts())["suppression"] == 0
