"""Inbound SMS webhooks per tenant (issue 18), over HTTP with the real app: a tenant's URL
(`/v1/webhooks/{provider}/{slug}`) is verified with its own token from TENANT_SECRETS and writes
into it alone; the default tenant's token never verifies there; the default URL is unchanged."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from service.sms import bird, plivo, twilio, vonage
from service.tenants.logic import create_tenant
from service.tenants.registry import TenantRegistry
from tests.conftest import make_settings, rows_per_tenant
from tests.sms.conftest import (
    BASE,
    PLIVO_TOKEN,
    TWILIO_TOKEN,
    plivo_form,
    post_twilio,
    twilio_form,
)

PERSON = "+447911123456"
B_TWILIO = "brand-b-twilio-auth-token"
B_PLIVO = "brand-b-plivo-auth-token"
VONAGE_SECRET, B_VONAGE = "default-vonage-secret-0123456789", "brand-b-vonage-secret-0123456789"
BIRD_KEY, B_BIRD = "default-bird-signing-key-0123", "brand-b-bird-signing-key-0123"
WRITTEN = ("sms_message", "suppression", "consent_event", "change_feed", "preference")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def settings(database_url, tmp_path):
    return make_settings(
        database_url, tmp_path, public_base_url=BASE, twilio_auth_token=TWILIO_TOKEN,
        plivo_auth_token=PLIVO_TOKEN, vonage_signature_secret=VONAGE_SECRET,
        bird_signing_key=BIRD_KEY, tenant_secrets=json.dumps({"b": {
            "twilio_auth_token": B_TWILIO, "plivo_auth_token": B_PLIVO,
            "vonage_signature_secret": B_VONAGE, "bird_signing_key": B_BIRD}}))


async def written(raw_db) -> dict[str, dict[int, int]]:
    return await rows_per_tenant(raw_db, WRITTEN)


async def post_twilio_to(client, slug: str, params: dict, token: str):
    """As Twilio posts to a tenant's URL: the signature covers that URL, slug included."""
    url = f"/v1/webhooks/twilio/{slug}"
    headers = {**FORM, "X-Twilio-Signature": twilio.signature(token, BASE + url, params.items())}
    return await client.post(url, content=urlencode(params).encode(), headers=headers)


async def blocked(client, headers) -> bool:
    response = await client.get("/v1/suppressions/check", headers=headers,
                                params={"channel": "sms", "address": PERSON})
    assert response.status_code == 200, response.text
    return not response.json()["allowed"]


async def test_a_stop_to_a_tenants_url_stops_that_tenant_only(
        client, raw_db, admin_headers, headers_b, tenant_b):
    stop = twilio_form(PERSON, "STOP")
    refused = await post_twilio_to(client, "b", stop, TWILIO_TOKEN)  # the default's token
    assert refused.status_code == 403
    # b's token on the default URL: refused too
    assert (await post_twilio(client, stop, signature=twilio.signature(
        B_TWILIO, f"{BASE}/v1/webhooks/twilio", stop.items()))).status_code == 403
    assert await written(raw_db) == {table: {} for table in WRITTEN}

    accepted = await post_twilio_to(client, "b", stop, B_TWILIO)
    assert accepted.status_code == 200, accepted.text
    assert "<Message>" in accepted.text and "Brand B" in accepted.text  # b's name in the reply
    rows = await written(raw_db)
    assert set(rows["sms_message"]) == {tenant_b.id} and set(rows["suppression"]) == {tenant_b.id}
    assert set(rows["change_feed"]) == {tenant_b.id}
    assert await blocked(client, headers_b) and not await blocked(client, admin_headers)

    # a request signed for the default tenant's URL, replayed to b's, fails: the URL is signed
    default_stop = twilio_form(PERSON, "STOP")
    signature = twilio.signature(B_TWILIO, f"{BASE}/v1/webhooks/twilio", default_stop.items())
    moved = await client.post("/v1/webhooks/twilio/b", content=urlencode(default_stop).encode(),
                              headers={**FORM, "X-Twilio-Signature": signature})
    assert moved.status_code == 403
    # the default tenant's URL works as before tenants, and only there
    assert (await post_twilio(client, twilio_form(PERSON, "STOP"))).status_code == 200
    assert await blocked(client, admin_headers)


async def test_plivo_per_tenant_and_refusals(client, raw_db, db, tenant_b):
    await create_tenant(db, TenantRegistry(), "c", "Brand C")  # no TENANT_SECRETS entry
    nonce = "12345678901234567890"
    params = plivo_form(PERSON, "STOP")

    async def post(slug: str, token: str):
        url = f"/v1/webhooks/plivo/{slug}"
        headers = {**FORM, "X-Plivo-Signature-V3-Nonce": nonce,
                   "X-Plivo-Signature-V3": plivo.signature(token, BASE + url, params.items(),
                                                           nonce)}
        return await client.post(url, content=urlencode(params).encode(), headers=headers)

    for slug, token in (("b", PLIVO_TOKEN), ("c", PLIVO_TOKEN)):
        refused = await post(slug, token)
        assert refused.status_code == 403, (slug, refused.text)
    assert "configured" in (await post("c", PLIVO_TOKEN)).json()["detail"]
    assert (await post("nobody", B_PLIVO)).status_code == 404
    assert await written(raw_db) == {table: {} for table in WRITTEN}
    assert (await post("b", B_PLIVO)).status_code == 200
    assert set((await written(raw_db))["suppression"]) == {tenant_b.id}


async def test_vonage_and_bird_per_tenant(client, raw_db, tenant_b):
    form = {"content-type": "application/x-www-form-urlencoded"}

    def vonage_stop(secret: str, message_id: str) -> bytes:
        params = {"msisdn": "447911123456", "to": "447700900000", "messageId": message_id,
                  "text": "STOP", "type": "text", "timestamp": str(int(time.time()))}
        return urlencode({**params, "sig": vonage.signature(params, secret)}).encode()

    # Vonage does not sign the URL: only the secret tells the tenants apart
    assert (await client.post("/v1/webhooks/vonage/b", headers=form,
                              content=vonage_stop(VONAGE_SECRET, "0A01"))).status_code == 403
    assert (await client.post("/v1/webhooks/vonage", headers=form,
                              content=vonage_stop(B_VONAGE, "0A02"))).status_code == 403

    body = json.dumps({"service": "channels", "event": "sms.inbound", "payload": {
        "id": "96a0b5fa-a986-453d-be5c-3117f989f025", "channelId": "614208aa-b153",
        "sender": {"contact": {"identifierKey": "phonenumber",
                               "identifierValue": "+31612345678"}},
        "body": {"type": "text", "text": {"text": "STOP"}}}}).encode()

    def bird_headers(key: str, path: str) -> dict:
        stamp = str(int(time.time()))
        return {"content-type": "application/json", "messagebird-request-timestamp": stamp,
                "messagebird-signature": bird.signature(key, stamp, BASE + path, body)}

    # (the default's key at b's URL, b's at the default's, b's signed for another URL)
    for path, key, signed_for in (("/v1/webhooks/bird/b", BIRD_KEY, "/v1/webhooks/bird/b"),
                                  ("/v1/webhooks/bird", B_BIRD, "/v1/webhooks/bird"),
                                  ("/v1/webhooks/bird/b", B_BIRD, "/v1/webhooks/bird")):
        refused = await client.post(path, content=body, headers=bird_headers(key, signed_for))
        assert refused.status_code == 403, (path, refused.text)
    assert await written(raw_db) == {table: {} for table in WRITTEN}

    accepted = await client.post("/v1/webhooks/vonage/b", headers=form,
                                 content=vonage_stop(B_VONAGE, "0A03"))
    assert accepted.status_code == 200 and accepted.json()["outcome"] == "opted_out"
    accepted = await client.post("/v1/webhooks/bird/b", content=body,
                                 headers=bird_headers(B_BIRD, "/v1/webhooks/bird/b"))
    assert accepted.status_code == 200 and accepted.json()["outcome"] == "opted_out"
    rows = await written(raw_db)
    assert rows["sms_message"] == {tenant_b.id: 2} and set(rows["suppression"]) == {tenant_b.id}
