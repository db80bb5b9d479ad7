"""Each provider's signature, checked against vectors its documentation or SDK tests publish,
and against the SDK's published method where no vector is published (Plivo V3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlparse, urlunparse

import pytest

from service.sms import plivo, twilio

TWILIO_DOCS_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309",
                      "Digits": "1234", "From": "+14158675309", "To": "+18005551212"}
# twilio-ruby spec/util/request_validator_spec.rb, "should properly validate a Twilio SMS request"
TWILIO_RUBY_SMS = {
    "ToState": "CA", "FromState": "CA", "AccountSid": "ACba8bc05eacf94afdae398e642c9cc32d",
    "SmsMessageSid": "SM2003cbd5e6a3701999aa3e5f20ff2787", "Body": "Orly",
    "From": "+14159354345", "FromCity": "SAN FRANCISCO", "SmsStatus": "received",
    "FromZip": "94107", "FromCountry": "US", "To": "+14158141819", "ToCity": "SAN FRANCISCO",
    "ToZip": "94105", "ToCountry": "US", "ApiVersion": "2010-04-01",
    "SmsSid": "SM2003cbd5e6a3701999aa3e5f20ff2787"}


def test_twilio_documented_vector():
    """Twilio's security docs: token 12345, this URL and these parameters."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.signature("12345", url, TWILIO_DOCS_PARAMS.items()) == \
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_sdk_sms_vector():
    assert twilio.signature("2bd9e9638872de601313dc77410d3b23",
                            "http://twiliotests.heroku.com/validate/sms",
                            TWILIO_RUBY_SMS.items()) == "mxeiv65lEe0b8L6LdVw2jgJi8yw="


@pytest.mark.parametrize("change", ["token", "url", "param"])
def test_twilio_signature_covers_every_input(change):
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    token, params = "12345", dict(TWILIO_DOCS_PARAMS)
    if change == "token":
        token = "12346"
    elif change == "url":
        url += "&baz=3"
    else:
        params["Digits"] = "9999"
    assert twilio.signature(token, url, params.items()) != "RSOYDt4T1cUTdK1PDd93/VVr8B8="


# -- Plivo V3: plivo-python utils/signature_v3.py, transcribed as published (POST) ------------
def _sdk_sorted_query(params: dict) -> str:
    return "&".join("&".join(f"{k}={v}" for v in sorted(params[k])) for k in sorted(params))


def _sdk_sorted_params(params: dict) -> str:
    out = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            out.append("".join(f"{key}{v}" for v in sorted(value)))
        else:
            out.append(f"{key}{value}")
    return "".join(out)


def _sdk_get_url(uri: str, empty_post_params: bool) -> str:
    parsed = urlparse(uri)
    base = urlunparse((parsed.scheme, parsed.netloc, parsed.path, "", "", ""))
    query = _sdk_sorted_query(parse_qs(parsed.query, keep_blank_values=True))
    if query or not empty_post_params:
        base += "?" + query
    if query and not empty_post_params:
        base += "."
    return base


def _sdk_v3(token: str, uri: str, params: dict, nonce: str) -> str:
    base = _sdk_get_url(uri, len(params) == 0) + _sdk_sorted_params(params)
    digest = hmac.new(token.encode(), f"{base}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.encodebytes(digest).strip().decode()


PLIVO_PARAMS = {"From": "14155550100", "To": "447700900001", "Text": "STOP",
                "Type": "sms", "MessageUUID": "7b3b2c1e-0f0a-11ee-9b3a-0242ac110002"}


@pytest.mark.parametrize("url, params", [
    ("https://prefs.example.com/v1/webhooks/plivo", PLIVO_PARAMS),
    ("https://prefs.example.com/v1/webhooks/plivo?b=2&a=1&a=0", PLIVO_PARAMS),
    ("https://prefs.example.com/v1/webhooks/plivo?tenant=x", {}),
    ("https://prefs.example.com/v1/webhooks/plivo", {}),
])
def test_plivo_v3_matches_the_sdk_method(url, params):
    ours = plivo.signature("MAUTH-TOKEN-0123", url, params.items(), "05429567804466091622")
    assert ours == _sdk_v3("MAUTH-TOKEN-0123", url, dict(params), "05429567804466091622")


def test_plivo_v3_signed_string_is_the_documented_shape():
    """URL, "?", sorted query, "." (both present), sorted POST names and values."""
    base = plivo.signed_base("https://h.example/p?b=2&a=1", {"To": "2", "From": "1"}.items())
    assert base == "https://h.example/p?a=1&b=2.From1To2"
    assert plivo.signed_base("https://h.example/p", {"To": "2"}.items()) == \
        "https://h.example/p?To2"
    assert plivo.signed_base("https://h.example/p", []) == "https://h.example/p"
