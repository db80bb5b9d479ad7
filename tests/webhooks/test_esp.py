"""Each provider's documented sample events become the right suppressions; bad signatures,
stale or replayed requests and unexpected topics are refused and write nothing."""

from __future__ import annotations

import base64
import json
import time

import pytest

from service.webhooks import mailgun, sendgrid, ses
from tests.webhooks.conftest import (
    MAILGUN_KEY,
    POSTMARK_AUTH,
    POSTMARK_HEADER,
    mailgun_signed,
    sample,
    sample_bytes,
    sendgrid_headers,
    sns_sign,
)

SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8",
               "x-amz-sns-message-type": "Notification"}


async def post_sns(client, message: dict):
    return await client.post("/v1/webhooks/ses", content=json.dumps(message).encode(),
                             headers=SNS_HEADERS)


# -- Amazon SES over SNS ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ses-bounce-sns", "ses-complaint-sns",
                                  "sns-subscription-confirmation"])
def test_the_string_to_sign_matches_the_documented_one(name):
    expected = (sample_bytes(f"{name}.string-to-sign.txt")).decode()
    assert ses.string_to_sign(sample(f"{name}.json")).decode() == expected


async def test_real_sns_signature_vectors_verify_and_a_changed_one_does_not(client, db):
    for message in sample("sns-signature-vectors.json")["messages"]:
        response = await post_sns(client, message)
        assert response.status_code == 200, response.text
        assert response.json()["ignored"] == 1  # "Hello world" is not an SES event
        tampered = await post_sns(client, {**message, "Message": "Hello world!"})
        assert tampered.status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_bounce_and_complaint_become_suppressions(client, db, suppressions, version):
    bounce = await post_sns(client, sns_sign(sample("ses-bounce-sns.json"), version))
    assert bounce.status_code == 200, bounce.text
    assert bounce.json()["suppressed"] == 1
    complaint = await post_sns(client, sns_sign(sample("ses-complaint-sns.json"), version))
    assert complaint.json()["suppressed"] == 1
    assert await suppressions("jane@example.com", "richard@example.com", "mary@example.com") == {
        ("jane@example.com", None): ["hard_bounce"],
        ("richard@example.com", None): ["complaint"]}
    again = await post_sns(client, sns_sign(sample("ses-bounce-sns.json"), version))
    assert again.json()["suppressed"] == 0  # SNS redelivers: nothing twice


async def test_ses_configuration_set_events(client, suppressions, offers_topic):
    for name in ("ses-eventpublishing-bounce-message", "ses-eventpublishing-subscription-message"):
        envelope = {**sample("ses-bounce-sns.json"),
                    "Message": json.dumps(sample(f"{name}.json"))}
        response = await post_sns(client, sns_sign(envelope))
        assert response.status_code == 200
    assert await suppressions("recipient@example.com") == {
        ("recipient@example.com", None): ["hard_bounce", "unsubscribed"]}


async def test_raw_ses_messages_map_to_events():
    """Raw message delivery is refused over HTTP (unsigned), but the mapping is the same."""
    bounce = ses.ses_events(sample("ses-bounce-message.json"))
    assert [(e.kind, e.address) for e in bounce.events] == [("hard_bounce", "jane@example.com")]
    complaint = ses.ses_events(sample("ses-complaint-message.json"))
    assert [(e.kind, e.address) for e in complaint.events] == [
        ("complaint", "richard@example.com")]
    transient = sample("ses-bounce-message.json")
    transient["bounce"]["bounceType"] = "Transient"
    assert ses.ses_events(transient).events[0].kind == "soft_bounce"


async def test_sns_refusals_write_nothing(client, db, monkeypatch):
    fetched = []

    async def fetch(url):
        fetched.append(url)
        raise ValueError("offline")

    monkeypatch.setattr(ses, "fetch_certificate", fetch)
    for host in ("evil.example.com", "sns.us-west-2.amazonaws.com.evil.example.com"):
        evil = {**sample("ses-bounce-sns.json"),
                "SigningCertURL": f"https://{host}/SimpleNotificationService-x.pem"}
        assert (await post_sns(client, evil)).status_code == 403
    plain_http = {**sample("ses-bounce-sns.json"), "SigningCertURL": "http://sns.us-west-2."
                  "amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"}
    assert (await post_sns(client, plain_http)).status_code == 403
    assert fetched == [], "no certificate is fetched from anywhere but an SNS host over https"
    monkeypatch.undo()
    unsigned = await post_sns(client, sample("ses-bounce-sns.json"))  # AWS's placeholder
    assert unsigned.status_code == 403
    raw = await client.post("/v1/webhooks/ses", content=sample_bytes("ses-bounce-message.json"))
    assert raw.status_code == 403
    other_topic = sns_sign({**sample("ses-bounce-sns.json"),
                            "TopicArn": "arn:aws:sns:us-west-2:999999999999:Other"})
    refused = await post_sns(client, other_topic)
    assert refused.status_code == 403 and "TopicArn" in refused.json()["detail"]
    assert (await client.post("/v1/webhooks/ses", content=b"{nope")).status_code == 400
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0


async def test_sns_subscription_handshake(client, monkeypatch):
    visited = []

    async def confirm(url):
        visited.append(url)

    monkeypatch.setattr(ses, "confirm_subscription", confirm)
    message = sns_sign(sample("sns-subscription-confirmation.json"))
    response = await post_sns(client, message)
    assert response.status_code == 200 and response.json()["confirmed"] is True
    assert visited == [message["SubscribeURL"]]
    foreign = sns_sign({**sample("sns-subscription-confirmation.json"),
                        "SubscribeURL": "https://attacker.example.com/confirm"})
    assert (await post_sns(client, foreign)).status_code == 403
    assert len(visited) == 1


# -- SendGrid -----------------------------------------------------------------------------------
def test_the_real_sendgrid_vector_verifies_and_a_changed_body_does_not():
    vector = sample("sendgrid-signature-vector.json")
    body = sample_bytes("sendgrid-signed-body.bin")
    headers = vector["headers"]
    args = (vector["public_key_base64_der"], headers["X-Twilio-Email-Event-Webhook-Signature"],
            headers["X-Twilio-Email-Event-Webhook-Timestamp"])
    assert body == vector["raw_body"].encode()
    assert sendgrid.verify(*args, body) is True
    assert sendgrid.verify(*args, body.rstrip()) is False


async def test_the_real_sendgrid_vector_end_to_end(database_url, tmp_path, db, rt):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import make_settings

    vector = sample("sendgrid-signature-vector.json")
    app = create_app(make_settings(database_url, tmp_path,
                                   sendgrid_webhook_public_key=vector["public_key_base64_der"]))
    async with AsyncTestClient(app=app) as other:
        response = await other.post("/v1/webhooks/sendgrid",
                                    content=sample_bytes("sendgrid-signed-body.bin"),
                                    headers=vector["headers"])
    assert response.status_code == 200, response.text
    key = rt.parse_address("email", "hello@world.com")[1]
    assert await db.fetchval("SELECT reason FROM suppression WHERE address_key = $1",
                             key) == "hard_bounce"


async def test_sendgrid_sample_events(client, suppressions, offers_topic):
    body = sample_bytes("sendgrid-events.json")
    response = await client.post("/v1/webhooks/sendgrid", content=body,
                                 headers=sendgrid_headers(body))
    assert response.status_code == 200, response.text
    assert await suppressions("example@test.com") == {
        ("example@test.com", None): ["hard_bounce", "complaint", "unsubscribed"],
        ("example@test.com", "offers"): ["unsubscribed"]}  # group 10 is mapped to offers


async def test_sendgrid_blocked_and_activity_events_suppress_nothing(client, db):
    for name in ("sendgrid-event-blocked.json", "sendgrid-events-docs-combined.json"):
        body = sample_bytes(name)
        response = await client.post("/v1/webhooks/sendgrid", content=body,
                                     headers=sendgrid_headers(body))
        assert response.status_code == 200
    reasons = [r[0] for r in await db.fetch("SELECT reason FROM suppression ORDER BY id")]
    # the combined docs example: bounce (no type), dropped Bounced Address, spamreport,
    # unsubscribe, group_unsubscribe (topic unknown here: the whole channel, already so)
    assert reasons == ["hard_bounce", "complaint", "unsubscribed"]


async def test_sendgrid_bad_signature_is_refused(client, db):
    body = sample_bytes("sendgrid-events.json")
    headers = sendgrid_headers(body)
    tampered = await client.post("/v1/webhooks/sendgrid", content=body.replace(b"bounce", b"open"),
                                 headers=headers)
    assert tampered.status_code == 403
    missing = await client.post("/v1/webhooks/sendgrid", content=body)
    assert missing.status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0


# -- Mailgun ------------------------------------------------------------------------------------
def test_the_real_mailgun_vector():
    vector = sample("mailgun-signature-vector.json")
    good, bad = vector["good"], vector["bad"]
    assert mailgun.signature_ok(vector["signing_key"], good["timestamp"], good["token"],
                                good["signature"])
    assert not mailgun.signature_ok(vector["signing_key"], bad["timestamp"], bad["token"],
                                    bad["signature"])


async def test_mailgun_sample_events(client, suppressions):
    for i, name in enumerate(["mailgun-permanent-fail.json", "mailgun-complained.json",
                              "mailgun-unsubscribed.json",
                              "mailgun-permanent-fail-delayed-bounce.json"]):
        response = await client.post("/v1/webhooks/mailgun",
                                     json=mailgun_signed(sample(name), f"token-{i}" * 5))
        assert response.status_code == 200, response.text
    assert await suppressions("slava@mailgun.com", "foo@example.com", "recipient@example.com",
                              "christest123@test.com") == {
        ("slava@mailgun.com", None): ["hard_bounce"],
        ("foo@example.com", None): ["complaint"],
        ("recipient@example.com", None): ["unsubscribed"],
        ("christest123@test.com", None): ["hard_bounce"]}


async def test_mailgun_refuses_bad_stale_and_replayed_requests(client, db):
    payload = sample("mailgun-complained.json")  # its documentation signature does not verify
    assert (await client.post("/v1/webhooks/mailgun", json=payload)).status_code == 403
    stale = mailgun_signed(payload, "stale-token" * 4, timestamp=int(time.time()) - 3600)
    assert (await client.post("/v1/webhooks/mailgun", json=stale)).status_code == 406
    fresh = mailgun_signed(payload, "fresh-token" * 4)
    assert (await client.post("/v1/webhooks/mailgun", json=fresh)).status_code == 200
    replay = await client.post("/v1/webhooks/mailgun", json=fresh)
    assert replay.status_code == 406
    forged = mailgun_signed(payload, "other-token" * 4)
    forged["signature"]["signature"] = "0" * 64
    assert (await client.post("/v1/webhooks/mailgun", json=forged)).status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 1
    assert MAILGUN_KEY not in (await client.post("/v1/webhooks/mailgun", json=payload)).text


# -- Postmark -----------------------------------------------------------------------------------
def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_postmark_sample_events(client, suppressions):
    for name in ("postmark-bounce.json", "postmark-spam-complaint.json",
                 "postmark-subscription-change.json"):
        response = await client.post("/v1/webhooks/postmark", content=sample_bytes(name),
                                     headers=basic(*POSTMARK_AUTH))
        assert response.status_code == 200, response.text
    assert await suppressions("john@example.com", "bounced-address@wildbit.com") == {
        ("john@example.com", None): ["hard_bounce", "complaint"],
        ("bounced-address@wildbit.com", None): ["hard_bounce"]}


async def test_postmark_needs_its_credentials(client, db):
    body = sample_bytes("postmark-bounce.json")
    assert (await client.post("/v1/webhooks/postmark", content=body)).status_code == 401
    wrong = await client.post("/v1/webhooks/postmark", content=body,
                              headers=basic(POSTMARK_AUTH[0], "wrong"))
    assert wrong.status_code == 401
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0
    by_header = await client.post("/v1/webhooks/postmark", content=body,
                                  headers=dict([POSTMARK_HEADER]))
    assert by_header.status_code == 200
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 1


# -- across providers ---------------------------------------------------------------------------
async def test_unconfigured_providers_refuse_everything(database_url, tmp_path, db):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, tmp_path))
    async with AsyncTestClient(app=app) as bare:
        for provider in ("sendgrid", "mailgun", "postmark"):
            response = await bare.post(f"/v1/webhooks/{provider}", content=b"[]")
            assert response.status_code == 403, provider
            assert "not configured" in response.json()["detail"]
        assert (await bare.post("/v1/webhooks/sparkpost", content=b"{}")).status_code == 404


async def test_a_contacts_esp_suppression_is_in_the_ledger(client, db, rt):
    from service.contacts.store import ensure_contact_for_address

    normalized, key = rt.parse_address("email", "john@example.com")
    async with db.transaction() as tx:
        contact, _ = await ensure_contact_for_address(
            tx, channel="email", normalized=normalized, address_key=key, given="john@example.com")
    await client.post("/v1/webhooks/postmark", content=sample_bytes("postmark-bounce.json"),
                      headers=basic(*POSTMARK_AUTH))
    event = await db.fetchrow("SELECT action, source, message_ref, detail FROM consent_event"
                              " WHERE contact_id = $1", contact)
    assert (event["action"], event["source"]) == ("suppressed", "esp_webhook")
    assert event["message_ref"] == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert "postmark" in str(event["detail"])
    assert await db.fetchval("SELECT contact_id FROM suppression") == contact


async def test_soft_bounces_become_invalid_after_the_limit(client, db, suppressions):
    payload = sample("mailgun-permanent-fail.json")
    payload["event-data"] = {**payload["event-data"], "severity": "temporary"}
    base = time.time() - 86400
    answers = []
    for i, offset in enumerate([0, 0, 3600, 7200]):  # the second is the first seen again
        event = {**payload, "event-data": {**payload["event-data"], "timestamp": base + offset}}
        response = await client.post("/v1/webhooks/mailgun",
                                     json=mailgun_signed(event, f"soft-{i}" * 8))
        assert response.status_code == 200, response.text
        answers.append(response.json())
    assert [a["soft_bounces"] for a in answers] == [1, 1, 1, 1]
    assert [a["suppressed"] for a in answers] == [0, 0, 0, 1]  # the third distinct one
    assert await suppressions("slava@mailgun.com") == {("slava@mailgun.com", None): ["invalid"]}
    assert await db.fetchval("SELECT COUNT(*) FROM soft_bounce") == 3
