"""Vonage inbound SMS: the SMS API's signed webhooks, or the Messages API's signed JWT.

Two Vonage products deliver an inbound text, and a number is wired to one of them:
- SMS API (account-level "Inbound SMS" webhook, GET query, POST form or POST JSON): with
  "signed webhooks" on, every parameter is signed into `sig`. The canonical string is the
  parameters other than `sig`, sorted by name, each written `&name=value` with every `&` and `=`
  inside the value replaced by `_` (Vonage's "Signing requests" guide; the same rule in
  vonage-python-sdk `Client.signature`, vonage-node `SMS.verifySignature`, vonage-php
  `Signature`). `md5hash` is md5 of that string followed by the secret (the SDKs' default when
  no method is named, so ours too); `md5`, `sha1`, `sha256`, `sha512` are HMACs keyed with the
  secret. Hex digests compare case-insensitively (Vonage has sent both cases).
- Messages API (application inbound URL, JSON): `Authorization: Bearer <JWT>`, HS256 with the
  same signature secret whatever the dashboard's method says (Vonage: "SHA-256 is always
  used"), whose `payload_hash` claim is the hex SHA-256 of the body: a token lifted from one
  request cannot carry another body.

Both sign a time (`timestamp`, JWT `iat`): older than five minutes (or as far in the future) is
refused, so a captured request cannot be replayed later; a repeat inside the window is caught
by the message id downstream. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt

from service.errors import InputError
from service.settings import Settings
from service.sms.inbound import BadSignature, InboundSms

MAX_AGE_SECONDS = 300
HMAC_METHODS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256,
                "sha512": hashlib.sha512}
METHODS = ("md5hash", *HMAC_METHODS)


def signature(params: Mapping[str, Any], secret: str, method: str = "md5hash") -> str:
    """Vonage's `sig` for these parameters (any `sig` among them is left out)."""
    canonical = "".join(
        f"&{name}={_text(params[name]).replace('&', '_').replace('=', '_')}"
        for name in sorted(params) if name != "sig")
    if method == "md5hash":
        return hashlib.md5((canonical + secret).encode(), usedforsecurity=False).hexdigest()
    if method not in HMAC_METHODS:
        raise ValueError(f"VONAGE_SIGNATURE_METHOD must be one of {', '.join(METHODS)}")
    return hmac.new(secret.encode(), canonical.encode(), HMAC_METHODS[method]).hexdigest()


def read(url: str, headers: Mapping[str, str], body: bytes, settings: Settings,
         now: datetime) -> InboundSms:
    secret = settings.vonage_signature_secret
    if not secret:
        raise BadSignature("Vonage webhooks are not configured "
                           "(VONAGE_SIGNATURE_SECRET; a tenant's own: TENANT_SECRETS)")
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return _messages_api(authorization[7:].strip(), body, secret, now)
    return _sms_api(url, headers, body, secret, settings.vonage_signature_method, now)


def _sms_api(url: str, headers: Mapping[str, str], body: bytes, secret: str, method: str,
             now: datetime) -> InboundSms:
    params = _params(url, headers, body)
    sig = params.get("sig")
    if not isinstance(sig, str) or not sig:
        raise BadSignature("missing Vonage signature (sig)")
    if not hmac.compare_digest(signature(params, secret, method).encode(), sig.lower().encode()):
        raise BadSignature("bad Vonage signature")
    _fresh(params.get("timestamp"), now, "timestamp")
    return InboundSms("vonage", _field(params, "messageId"), _field(params, "msisdn"),
                      _field(params, "to"), _field(params, "text"))


def _messages_api(token: str, body: bytes, secret: str, now: datetime) -> InboundSms:
    try:
        # Times are checked below against `now`, not against PyJWT's own clock.
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"verify_exp": False, "verify_nbf": False,
                                     "verify_iat": False})
    except jwt.PyJWTError:
        raise BadSignature("bad Vonage JWT") from None
    _fresh(claims.get("iat"), now, "iat")
    expected = hashlib.sha256(body).hexdigest()
    given = str(claims.get("payload_hash", "")).lower().encode()
    if not hmac.compare_digest(expected.encode(), given):
        raise BadSignature("the body does not match the Vonage JWT's payload_hash")
    payload = _json(body)
    if payload.get("channel") != "sms":
        raise InputError("channel", "only SMS messages are read from the Vonage Messages API")
    return InboundSms("vonage", _field(payload, "message_uuid"), _field(payload, "from"),
                      _field(payload, "to"), _field(payload, "text"))


def _params(url: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The query's parameters, then the body's (form or JSON) over them."""
    params: dict[str, Any] = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if not body.strip():
        return params
    if "json" in headers.get("content-type", ""):
        params.update(_json(body))
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _fresh(value: Any, now: datetime, name: str) -> None:
    try:
        signed_at = int(value)
    except (TypeError, ValueError):
        raise BadSignature(f"missing or unreadable Vonage {name}") from None
    if abs(now.timestamp() - signed_at) > MAX_AGE_SECONDS:
        raise BadSignature(f"Vonage {name} is more than {MAX_AGE_SECONDS} seconds from now")


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise InputError("body", "is not JSON") from None
    if not isinstance(payload, dict):
        raise InputError("body", "must be a JSON object")
    return payload


def _field(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or (not value and name != "text"):
        raise InputError(name, "is missing from the signed Vonage message")
    return value


def _text(value: Any) -> str:
    """A parameter as Vonage signed it: strings as sent, numbers in decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
