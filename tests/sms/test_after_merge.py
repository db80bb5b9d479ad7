"""Vonage and Bird over HTTP, once their readers (service/sms/vonage.py, bird.py: another
branch of issue 15) are in the tree: the same keyword path, a JSON answer, 403 when forged.
Skipped until those modules exist; fails if they exist but are not in `PROVIDERS`."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from service.sms.providers import PROVIDERS
from tests.conftest import make_settings
from tests.sms.conftest import BASE

vonage = pytest.importorskip("service.sms.vonage")
bird = pytest.importorskip("service.sms.bird")

VONAGE_SECRET = "vonage-signature-secret-0123456789abcdef"
BIRD_KEY = "bird-signing-key-0123456789"


@pytest.fixture
def settings(database_url, tmp_path):
    return make_settings(database_url, tmp_path, public_base_url=BASE,
                         vonage_signature_secret=VONAGE_SECRET, bird_signing_key=BIRD_KEY)


def test_both_are_wired():
    assert {"vonage", "bird"} <= set(PROVIDERS), "add them to service/sms/providers.PROVIDERS"


async def test_vonage_stop_over_http(client, admin_headers):
    params = {"msisdn": "447911123456", "to": "447700900000", "messageId": "0A00000001234567",
              "text": "Please stop.", "type": "text", "timestamp": str(int(time.time()))}
    params["sig"] = vonage.signature(params, VONAGE_SECRET)
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = await client.post("/v1/webhooks/vonage", content=urlencode(params).encode(),
                                 headers=form)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "opted_out"
    check = await client.get("/v1/suppressions/check", headers=admin_headers,
                             params={"channel": "sms", "address": "+447911123456"})
    assert check.json()["reasons"] == ["unsubscribed"]
    again = await client.post("/v1/webhooks/vonage", content=urlencode(params).encode(),
                              headers=form)
    assert again.json() == {"outcome": "opted_out", "reply": None}
    forged = await client.post("/v1/webhooks/vonage", headers=form, content=urlencode(
        {**params, "msisdn": "447911654321"}).encode())
    assert forged.status_code == 403


async def test_bird_help_over_http(client):
    body = json.dumps({"service": "channels", "event": "sms.inbound", "payload": {
        "id": "96a0b5fa-a986-453d-be5c-3117f989f025",
        "channelId": "614208aa-b153-4d5d-9989-2fddfc0ce4c3",
        "sender": {"contact": {"identifierKey": "phonenumber",
                               "identifierValue": "+31612345678"}},
        "receiver": {"connector": {"id": "86cc4dc0-3dc0-41b7-ac43-8ec829ead56f"}},
        "body": {"type": "text", "text": {"text": "HELP"}}}}).encode()
    stamp = str(int(time.time()))
    headers = {"content-type": "application/json", "messagebird-request-timestamp": stamp,
               "messagebird-signature": bird.signature(BIRD_KEY, stamp,
                                                       f"{BASE}/v1/webhooks/bird", body)}
    response = await client.post("/v1/webhooks/bird", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "help"
    assert "Msg & data rates may apply" in response.json()["reply"]
    tampered = await client.post("/v1/webhooks/bird", content=body + b" ", headers=headers)
    assert tampered.status_code == 403
