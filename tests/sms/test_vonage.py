"""Vonage inbound SMS: both signing schemes accept what Vonage signs and refuse everything else
(forged, wrong secret, stale, tampered, unsigned), before any field is read."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import jwt
import pytest

from service.errors import InputError
from service.settings import Settings
from service.sms import vonage
from service.sms.inbound import BadSignature, InboundSms

SECRET = "vonage-signature-secret-0123456789abcdef"  # HS256 wants 32+ bytes
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
URL = "https://prefs.example.com/v1/webhooks/vonage"
FORM = {"content-type": "application/x-www-form-urlencoded"}
INBOUND = {"msisdn": "447700900001", "to": "447700900000", "messageId": "0A0000000123ABCD1",
           "text": "Please stop.", "type": "text", "keyword": "PLEASE",
           "api-key": "abcd1234", "message-timestamp": "2026-12-07 11:59:58",
           "nonce": "aa4b5a5c-1b2c-4d5e-8f90-123456789abc"}


def settings(method: str = "md5hash", secret: str = SECRET) -> Settings:
    return Settings(vonage_signature_secret=secret, vonage_signature_method=method)


def by_the_guide(params: dict, secret: str, method: str) -> str:
    """Vonage's "Signing requests" guide, step by step (independent of the module)."""
    text = ""
    for name in sorted(params):
        text += "&" + name + "=" + str(params[name]).replace("&", "_").replace("=", "_")
    if method == "md5hash":
        return hashlib.md5((text + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), text.encode(), method).hexdigest()


def signed(params: dict, method: str = "md5hash", secret: str = SECRET,
           at: datetime = NOW) -> dict:
    params = {**params, "timestamp": str(int(at.timestamp()))}
    return {**params, "sig": by_the_guide(params, secret, method)}


# Vectors published with Vonage's own SDK tests (vonage-python-sdk): v3
# tests/test_signature.py (md5hash, secret "secret") and v4 http_client/tests/test_auth.py
# (HMAC md5 is that SDK's default there; sha256; "&" and "=" in values).
@pytest.mark.parametrize(("params", "secret", "method", "expected"), [
    ({"a": "1", "b": "2", "timestamp": "1461605396"}, "secret", "md5hash",
     "6af838ef94998832dbfc29020b564830"),
    ({"param1": "value1", "param2": "value2", "timestamp": 1234567890}, "signature_secret",
     "md5", "724c2bf6ca423c36e20631b11d1c5753"),
    ({"param1": "value1", "param2": "value2", "timestamp": 1234567890}, "signature_secret",
     "sha256", "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"),
    ({"param1": "value&1", "param2": "value=2", "timestamp": 1234567890}, "signature_secret",
     "md5", "2bbf0abafb2c55e5af6231513896a2ac"),
    ({"param": "value", "timestamp": 1234567890, "sig": "655a4d0b7f064dff438defc52b012cf5"},
     "signature_secret", "md5", "655a4d0b7f064dff438defc52b012cf5"),
])
def test_signature_matches_the_vectors_vonage_publishes(params, secret, method, expected):
    assert vonage.signature(params, secret, method) == expected


@pytest.mark.parametrize("method", vonage.METHODS)
def test_a_signed_post_form_becomes_the_inbound_message(method):
    body = urlencode(signed(INBOUND, method)).encode()
    got = vonage.read(URL, FORM, body, settings(method), NOW)
    assert got == InboundSms("vonage", "0A0000000123ABCD1", "447700900001", "447700900000",
                             "Please stop.")


def test_a_signed_get_query_and_a_signed_json_post_are_read_alike():
    params = signed(INBOUND, "sha256")
    by_get = vonage.read(f"{URL}?{urlencode(params)}", {}, b"", settings("sha256"), NOW)
    by_json = vonage.read(URL, {"content-type": "application/json"},
                          json.dumps(params).encode(), settings("sha256"), NOW)
    assert by_get == by_json and by_get.text == "Please stop."


def test_a_text_with_ampersand_equals_and_plus_is_verified_as_sent():
    params = signed({**INBOUND, "text": "STOP & don't=text me+ever"}, "sha512")
    got = vonage.read(URL, FORM, urlencode(params).encode(), settings("sha512"), NOW)
    assert got.text == "STOP & don't=text me+ever"


def test_an_upper_case_hex_signature_is_accepted():
    params = signed(INBOUND, "sha1")
    params["sig"] = params["sig"].upper()
    assert vonage.read(URL, FORM, urlencode(params).encode(), settings("sha1"), NOW).text


@pytest.mark.parametrize("forge", [
    lambda p: {**p, "sig": "0" * 32},                 # forged signature
    lambda p: {**p, "text": "START"},                 # a signed field changed
    lambda p: {**p, "msisdn": "447700900999"},        # someone else's number
    lambda p: {k: v for k, v in p.items() if k != "sig"},  # unsigned
    lambda p: {**p, "sig": ""},
    lambda p: {**p, "sig": "é" * 32},                 # not even hex
])
def test_a_forged_or_altered_request_is_refused(forge):
    body = urlencode(forge(signed(INBOUND))).encode()
    with pytest.raises(BadSignature):
        vonage.read(URL, FORM, body, settings(), NOW)


def test_a_request_signed_with_another_secret_or_method_is_refused():
    body = urlencode(signed(INBOUND, secret="someone-elses-secret")).encode()
    with pytest.raises(BadSignature):
        vonage.read(URL, FORM, body, settings(), NOW)
    body = urlencode(signed(INBOUND, "sha256")).encode()
    with pytest.raises(BadSignature):
        vonage.read(URL, FORM, body, settings("sha512"), NOW)


@pytest.mark.parametrize("seconds", [-301, 301, -3600])
def test_a_timestamp_more_than_five_minutes_away_is_refused(seconds):
    at = datetime.fromtimestamp(NOW.timestamp() + seconds, UTC)
    body = urlencode(signed(INBOUND, at=at)).encode()
    with pytest.raises(BadSignature, match="timestamp"):
        vonage.read(URL, FORM, body, settings(), NOW)
    recent = datetime.fromtimestamp(NOW.timestamp() - 299, UTC)
    assert vonage.read(URL, FORM, urlencode(signed(INBOUND, at=recent)).encode(),
                       settings(), NOW).message_id == "0A0000000123ABCD1"


def test_a_signed_request_without_a_timestamp_is_refused():
    params = dict(INBOUND)
    params["sig"] = by_the_guide(params, SECRET, "md5hash")
    with pytest.raises(BadSignature, match="timestamp"):
        vonage.read(URL, FORM, urlencode(params).encode(), settings(), NOW)


def test_no_secret_configured_refuses_everything():
    body = urlencode(signed(INBOUND, secret="")).encode()
    with pytest.raises(BadSignature, match="VONAGE_SIGNATURE_SECRET"):
        vonage.read(URL, FORM, body, settings(secret=""), NOW)


def test_a_signed_delivery_receipt_lacking_the_sender_names_the_field():
    receipt = {"to": "447700900000", "messageId": "0A00", "status": "delivered"}
    with pytest.raises(InputError) as caught:
        vonage.read(URL, FORM, urlencode(signed(receipt)).encode(), settings(), NOW)
    assert caught.value.field == "msisdn"


# Messages API: Authorization: Bearer <HS256 JWT>, payload_hash = hex SHA-256 of the body.
MESSAGE = {"channel": "sms", "message_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
           "to": "447700900000", "from": "447700900001", "text": "STOP",
           "timestamp": "2026-12-07T11:59:59Z", "message_type": "text"}


def bearer(body: bytes, secret: str = SECRET, at: datetime = NOW, **claims) -> dict:
    payload = {"iat": int(at.timestamp()), "jti": "c0ffee00-0000-4000-8000-000000000001",
               "iss": "Vonage", "payload_hash": hashlib.sha256(body).hexdigest(),
               "api_key": "abcd1234", "application_id": "app-1", **claims}
    return {"authorization": "Bearer " + jwt.encode(payload, secret, algorithm="HS256"),
            "content-type": "application/json"}


def test_a_signed_messages_api_sms_becomes_the_inbound_message():
    body = json.dumps(MESSAGE).encode()
    got = vonage.read(URL, bearer(body), body, settings("sha512"), NOW)  # method not used
    assert got == InboundSms("vonage", MESSAGE["message_uuid"], "447700900001",
                             "447700900000", "STOP")


def test_a_tampered_body_fails_the_payload_hash():
    body = json.dumps(MESSAGE).encode()
    other = json.dumps({**MESSAGE, "from": "447700900999"}).encode()
    with pytest.raises(BadSignature, match="payload_hash"):
        vonage.read(URL, bearer(body), other, settings(), NOW)
    without = {k: v for k, v in bearer(body).items()}
    without["authorization"] = bearer(body, payload_hash=None)["authorization"]
    with pytest.raises(BadSignature):
        vonage.read(URL, without, body, settings(), NOW)
    accented = bearer(body, payload_hash="é")
    with pytest.raises(BadSignature):
        vonage.read(URL, accented, body, settings(), NOW)


def test_a_jwt_with_another_secret_or_no_signature_is_refused():
    body = json.dumps(MESSAGE).encode()
    with pytest.raises(BadSignature):
        vonage.read(URL, bearer(body, secret="someone-elses-secret-0123456789abcdef"), body,
                    settings(), NOW)
    claims = {"iat": int(NOW.timestamp()), "payload_hash": hashlib.sha256(body).hexdigest()}
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(BadSignature):
        vonage.read(URL, {"authorization": f"Bearer {unsigned}"}, body, settings(), NOW)
    with pytest.raises(BadSignature):
        vonage.read(URL, {"authorization": "Bearer not.a.jwt"}, body, settings(), NOW)


@pytest.mark.parametrize("seconds", [-301, 301])
def test_a_jwt_issued_more_than_five_minutes_away_is_refused(seconds):
    body = json.dumps(MESSAGE).encode()
    at = datetime.fromtimestamp(NOW.timestamp() + seconds, UTC)
    with pytest.raises(BadSignature, match="iat"):
        vonage.read(URL, bearer(body, at=at), body, settings(), NOW)


def test_a_messages_api_event_that_is_not_an_sms_names_the_field():
    body = json.dumps({**MESSAGE, "channel": "whatsapp"}).encode()
    with pytest.raises(InputError) as caught:
        vonage.read(URL, bearer(body), body, settings(), NOW)
    assert caught.value.field == "channel"
