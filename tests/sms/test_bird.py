"""Bird inbound SMS: the signature Bird documents is accepted, anything else (forged, wrong
key, stale, tampered, unsigned) is refused before the body is read; the documented
`sms.inbound` shape becomes the inbound message."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from service.errors import InputError
from service.settings import Settings
from service.sms import bird
from service.sms.inbound import BadSignature, InboundSms

KEY = "secureSigningKey"  # the key in Bird's own example ("Verifying a webhook subscription")
URL = "https://prefs.example.com/v1/webhooks/bird"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
# Bird's documented sms.inbound example (Channels API, Programmable SMS: receiving messages).
EVENT = {"service": "channels", "event": "sms.inbound", "payload": {
    "id": "96a0b5fa-a986-453d-be5c-3117f989f025",
    "channelId": "614208aa-b153-4d5d-9989-2fddfc0ce4c3",
    "sender": {"contact": {"id": "32cf5eee-f940-422c-ab8c-5f753aad5efd",
                           "identifierKey": "phonenumber", "identifierValue": "+31612345678"}},
    "receiver": {"connector": {"id": "86cc4dc0-3dc0-41b7-ac43-8ec829ead56f"}},
    "body": {"type": "text", "text": {"text": "STOP texting me"}},
    "parts": [{"platformReference": "e8077d803532c0b5937c639b60216938"}],
    "status": "delivered", "direction": "incoming",
    "createdAt": "2026-12-07T11:59:58.000Z"}}
BODY = json.dumps(EVENT).encode()
PINNED = "BtGuEJvE+dMaWwkK10lsJsiyKD/r1YhjFSyEFQyORoY="


def by_the_docs(key: str, timestamp: str, url: str, body: bytes) -> str:
    """Bird's steps, as its PHP sample: hash('sha256', $body, true) (raw bytes), then
    hash_hmac('sha256', "$timestamp\\n$url\\n$bodyHash", $key, true), base64."""
    body_hash = hashlib.sha256(body).digest()
    signed = timestamp.encode() + b"\n" + url.encode() + b"\n" + body_hash
    return base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest()).decode()


def headers(body: bytes = BODY, key: str = KEY, at: datetime = NOW, url: str = URL) -> dict:
    timestamp = str(int(at.timestamp()))
    return {"content-type": "application/json", "messagebird-request-timestamp": timestamp,
            "messagebird-signature": by_the_docs(key, timestamp, url, body)}


def settings(key: str = KEY) -> Settings:
    return Settings(bird_signing_key=key)


def test_signature_matches_a_vector_computed_by_birds_published_method():
    # Bird's example key and URL; body and timestamp ours; expected computed by the PHP
    # sample's steps (by_the_docs) and pinned so a change of canonicalisation shows.
    got = bird.signature(KEY, "1719823259", "https://domain.com/webhook/bird", b'{"a":1}')
    assert got == by_the_docs(KEY, "1719823259", "https://domain.com/webhook/bird", b'{"a":1}')
    assert got == PINNED


def test_the_body_hash_is_signed_as_raw_bytes_not_hex():
    hex_variant = base64.b64encode(hmac.new(
        KEY.encode(), b"1\n" + URL.encode() + b"\n" + hashlib.sha256(BODY).hexdigest().encode(),
        hashlib.sha256).digest()).decode()
    assert bird.signature(KEY, "1", URL, BODY) != hex_variant


def test_a_signed_inbound_sms_becomes_the_inbound_message():
    got = bird.read(URL, headers(), BODY, settings(), NOW)
    assert got == InboundSms("bird", "96a0b5fa-a986-453d-be5c-3117f989f025", "+31612345678",
                             "614208aa-b153-4d5d-9989-2fddfc0ce4c3", "STOP texting me")


def test_our_number_is_the_connectors_when_bird_gives_it():
    event = json.loads(BODY)
    event["payload"]["receiver"]["connector"]["identifierValue"] = "+447700900000"
    body = json.dumps(event).encode()
    assert bird.read(URL, headers(body), body, settings(), NOW).to_number == "+447700900000"


@pytest.mark.parametrize("change", [
    lambda h: {**h, "messagebird-signature": base64.b64encode(b"\0" * 32).decode()},
    lambda h: {**h, "messagebird-signature": "not base64!"},
    lambda h: {k: v for k, v in h.items() if k != "messagebird-signature"},
    lambda h: {k: v for k, v in h.items() if k != "messagebird-request-timestamp"},
    lambda h: {**h, "messagebird-request-timestamp": str(int(NOW.timestamp()) - 1)},
])
def test_a_forged_or_unsigned_request_is_refused(change):
    with pytest.raises(BadSignature):
        bird.read(URL, change(headers()), BODY, settings(), NOW)


def test_a_request_signed_with_another_key_or_for_another_url_is_refused():
    with pytest.raises(BadSignature):
        bird.read(URL, headers(key="someone-elses-key"), BODY, settings(), NOW)
    with pytest.raises(BadSignature):
        bird.read(URL, headers(url="https://elsewhere.example/hook"), BODY, settings(), NOW)


def test_a_tampered_body_is_refused():
    other = BODY.replace(b"+31612345678", b"+31600000000")
    with pytest.raises(BadSignature):
        bird.read(URL, headers(), other, settings(), NOW)


@pytest.mark.parametrize("seconds", [-301, 301, -86400])
def test_a_timestamp_more_than_five_minutes_away_is_refused(seconds):
    at = datetime.fromtimestamp(NOW.timestamp() + seconds, UTC)
    with pytest.raises(BadSignature, match="timestamp"):
        bird.read(URL, headers(at=at), BODY, settings(), NOW)
    recent = datetime.fromtimestamp(NOW.timestamp() - 299, UTC)
    assert bird.read(URL, headers(at=recent), BODY, settings(), NOW).text


def test_no_key_configured_refuses_everything():
    with pytest.raises(BadSignature, match="BIRD_SIGNING_KEY"):
        bird.read(URL, headers(key=""), BODY, settings(""), NOW)


def test_a_signed_event_other_than_sms_inbound_names_the_field():
    body = json.dumps({**EVENT, "event": "sms.outbound"}).encode()
    with pytest.raises(InputError) as caught:
        bird.read(URL, headers(body), body, settings(), NOW)
    assert caught.value.field == "event"


def test_a_signed_message_without_a_sender_names_the_field():
    event = json.loads(BODY)
    del event["payload"]["sender"]
    body = json.dumps(event).encode()
    with pytest.raises(InputError) as caught:
        bird.read(URL, headers(body), body, settings(), NOW)
    assert caught.value.field == "payload.sender.contact.identifierValue"
