"""ESP webhooks per tenant (issue 18), over HTTP with the real app: a tenant's own URL
(`/v1/webhooks/{provider}/{slug}`) is verified with its own secrets from TENANT_SECRETS and
writes into it alone; the default tenant's secrets never verify on another tenant's URL, nor
the other way round; the default tenant's URL is unchanged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.runtime import build_runtime
from service.tenants.logic import create_tenant
from service.tenants.registry import TenantRegistry
from service.webhooks.outgoing import schedule
from tests.conftest import make_settings, rows_per_tenant
from tests.webhooks.conftest import (
    MAILGUN_KEY,
    MY_TOPIC,
    POSTMARK_AUTH,
    SENDGRID_PUBLIC,
    mailgun_signed,
    sample,
    sample_bytes,
    sendgrid_headers,
    sns_sign,
)

B_EC = ec.generate_private_key(ec.SECP256R1())
B_SENDGRID_PUBLIC = base64.b64encode(B_EC.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
B_MAILGUN_KEY = "brand-b-mailgun-signing-key"
B_POSTMARK = ("brand-b", "brand-b-pass")
B_TOPIC = "arn:aws:sns:us-west-2:123456789012:BrandB"
SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8"}
WRITTEN = ("suppression", "change_feed", "consent_event", "soft_bounce", "outbox")


@pytest.fixture
def settings(database_url, tmp_path):
    """The default tenant's flat secrets (as tests/webhooks/conftest.py) and b's own."""
    return make_settings(
        database_url, tmp_path, ses_sns_topic_arns=MY_TOPIC,
        sendgrid_webhook_public_key=SENDGRID_PUBLIC, mailgun_webhook_signing_key=MAILGUN_KEY,
        postmark_webhook_username=POSTMARK_AUTH[0], postmark_webhook_password=POSTMARK_AUTH[1],
        tenant_secrets=json.dumps({"b": {
            "ses_sns_topic_arns": B_TOPIC, "sendgrid_webhook_public_key": B_SENDGRID_PUBLIC,
            "mailgun_webhook_signing_key": B_MAILGUN_KEY,
            "postmark_webhook_username": B_POSTMARK[0],
            "postmark_webhook_password": B_POSTMARK[1]}}))


@pytest.fixture
async def worker(settings, client):
    """A runtime of the test's own (its loop), as the background fan-out has."""
    rt = build_runtime(settings)
    await rt.db.open()
    yield rt
    await rt.db.close()


@pytest.fixture
async def tenant_c(db):
    """A tenant with no entry in TENANT_SECRETS."""
    return await create_tenant(db, TenantRegistry(), "c", "Brand C")


def b_sendgrid_headers(body: bytes, timestamp: str = "1700000000") -> dict[str, str]:
    signature = B_EC.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json"}


def b_mailgun_signed(payload: dict, token: str) -> dict:
    stamp = str(int(time.time()))
    signature = hmac.new(B_MAILGUN_KEY.encode(), f"{stamp}{token}".encode(),
                         hashlib.sha256).hexdigest()
    return {**payload, "signature": {"timestamp": stamp, "token": token, "signature": signature}}


async def written(raw_db) -> dict[str, dict[int, int]]:
    """{table: {tenant id: rows}} of every table an ESP event may write."""
    return await rows_per_tenant(raw_db, WRITTEN)


async def blocked(client, headers, address: str) -> bool:
    response = await client.get("/v1/suppressions/check", headers=headers,
                                params={"channel": "email", "address": address})
    assert response.status_code == 200, response.text
    return not response.json()["allowed"]


async def test_sendgrid_events_go_to_the_tenant_whose_key_signed_them(
        client, raw_db, admin_headers, headers_b, tenant_b, worker):
    subscriptions = {}
    for tenant_id, headers in ((1, admin_headers), (tenant_b.id, headers_b)):
        made = await client.post("/v1/webhook-subscriptions", headers=headers,
                                 json={"url": "https://crm.example.com/hook"})
        assert made.status_code == 201, made.text
        subscriptions[made.json()["id"]] = tenant_id
    body = sample_bytes("sendgrid-events.json")
    # the default tenant's signature on b's URL, and b's on the default URL: refused, unwritten
    for url, headers in (("/v1/webhooks/sendgrid/b", sendgrid_headers(body)),
                         ("/v1/webhooks/sendgrid", b_sendgrid_headers(body)),
                         ("/v1/webhooks/sendgrid/default", b_sendgrid_headers(body))):
        refused = await client.post(url, content=body, headers=headers)
        assert refused.status_code == 403, (url, refused.text)
    assert await written(raw_db) == {table: {} for table in WRITTEN}

    accepted = await client.post("/v1/webhooks/sendgrid/b", content=body,
                                 headers=b_sendgrid_headers(body))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["suppressed"] > 0
    rows = await written(raw_db)
    assert set(rows["suppression"]) == {tenant_b.id} and set(rows["change_feed"]) == {tenant_b.id}
    assert set(rows["consent_event"]) <= {tenant_b.id}
    assert await blocked(client, headers_b, "example@test.com")
    assert not await blocked(client, admin_headers, "example@test.com")
    a_feed = await client.get("/v1/suppressions", headers=admin_headers)
    b_feed = await client.get("/v1/suppressions", headers=headers_b)
    assert a_feed.json()["entries"] == [] and b_feed.json()["entries"]
    # outgoing webhooks: a delivery is due to b's subscription only
    assert await schedule(worker) == 1
    jobs = await raw_db.fetch("SELECT tenant_id, payload FROM outbox WHERE kind = 'webhook'")
    payload = jobs[0]["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert [r["tenant_id"] for r in jobs] == [tenant_b.id]
    assert subscriptions[payload["subscription_id"]] == tenant_b.id

    # the default tenant's URL, and its name in the per-tenant form, work as before tenants
    for url in ("/v1/webhooks/sendgrid", "/v1/webhooks/sendgrid/default"):
        response = await client.post(url, content=body, headers=sendgrid_headers(body))
        assert response.status_code == 200, (url, response.text)
    assert await blocked(client, admin_headers, "example@test.com")


async def test_mailgun_and_postmark_secrets_are_per_tenant(client, raw_db, tenant_b):
    event = sample("mailgun-permanent-fail.json")
    a_signed = mailgun_signed(event, token="t-a-1")
    refused = await client.post("/v1/webhooks/mailgun/b", json=a_signed)
    assert refused.status_code == 403
    accepted = await client.post("/v1/webhooks/mailgun/b",
                                 json=b_mailgun_signed(event, token="t-b-1"))
    assert accepted.status_code == 200 and accepted.json()["suppressed"] == 1

    record = sample("postmark-spam-complaint.json")
    refused = await client.post("/v1/webhooks/postmark/b", json=record, auth=POSTMARK_AUTH)
    assert refused.status_code == 401
    accepted = await client.post("/v1/webhooks/postmark/b", json=record, auth=B_POSTMARK)
    assert accepted.status_code == 200 and accepted.json()["suppressed"] == 1
    assert (await client.post("/v1/webhooks/postmark", json=record,
                              auth=B_POSTMARK)).status_code == 401
    assert set((await written(raw_db))["suppression"]) == {tenant_b.id}


async def test_ses_topics_tell_the_tenants_apart(client, raw_db, tenant_b, tenant_c):
    a_message = sns_sign(sample("ses-bounce-sns.json"))  # the default tenant's topic
    assert a_message["TopicArn"] == MY_TOPIC
    b_message = sns_sign({**sample("ses-bounce-sns.json"), "TopicArn": B_TOPIC})
    assert (await client.post("/v1/webhooks/ses/b", content=json.dumps(a_message),
                              headers=SNS_HEADERS)).status_code == 403
    assert (await client.post("/v1/webhooks/ses", content=json.dumps(b_message),
                              headers=SNS_HEADERS)).status_code == 403
    # AWS's signature verifies for anyone: a tenant that named no topic refuses everything
    assert (await client.post("/v1/webhooks/ses/c", content=json.dumps(b_message),
                              headers=SNS_HEADERS)).status_code == 403
    assert await written(raw_db) == {table: {} for table in WRITTEN}
    accepted = await client.post("/v1/webhooks/ses/b", content=json.dumps(b_message),
                                 headers=SNS_HEADERS)
    assert accepted.status_code == 200 and accepted.json()["suppressed"] == 1
    assert set((await written(raw_db))["suppression"]) == {tenant_b.id}


async def test_a_tenant_without_secrets_refuses_and_an_unknown_slug_is_404(
        client, raw_db, tenant_c):
    body = sample_bytes("sendgrid-events.json")
    for provider, kwargs in (
            ("sendgrid", {"content": body, "headers": sendgrid_headers(body)}),
            ("mailgun", {"json": mailgun_signed(sample("mailgun-complained.json"), "t-c")}),
            ("postmark", {"json": sample("postmark-bounce.json"), "auth": POSTMARK_AUTH})):
        # the default tenant's flat secrets are not another tenant's
        response = await client.post(f"/v1/webhooks/{provider}/c", **kwargs)
        assert response.status_code == 403, (provider, response.text)
        assert "configured" in response.json()["detail"]
    unknown = await client.post("/v1/webhooks/sendgrid/nobody", content=body,
                                headers=sendgrid_headers(body))
    assert unknown.status_code == 404
    assert (await client.post("/v1/webhooks/nope/c", content=body)).status_code == 404
    assert await written(raw_db) == {table: {} for table in WRITTEN}
