"""Bird (formerly MessageBird) inbound SMS: the Channels API's `sms.inbound` webhook.

Signature (Bird, "Verifying a webhook subscription"): `messagebird-signature` is the base64
HMAC-SHA256, keyed with the subscription's signing key (BIRD_SIGNING_KEY), of
`messagebird-request-timestamp` + "\\n" + the URL as Bird called it + "\\n" + the SHA-256 of the
body as raw bytes (PHP `hash('sha256', $body, true)` in Bird's sample, not hex). The timestamp is
unix seconds; one more than five minutes from now is refused, so a captured request cannot be
replayed later (a repeat inside the window is caught by the message id downstream).

Body (Bird, Channels API "Programmable SMS: receiving messages"):
`{"service": "channels", "event": "sms.inbound", "payload": {"id", "channelId",
"sender": {"contact": {"identifierValue": "+31612345678"}}, "receiver": {"connector": {...}},
"body": {"type": "text", "text": {"text": "STOP"}}}}`. Our number is the receiving connector's
`identifierValue` when Bird includes it, else the channel id (one Bird SMS channel is one
sending number). The older MessageBird webhooks (`messagebird-signature-jwt`, GET query with
`originator`) are not read: a subscription made today signs as above.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.errors import InputError
from service.settings import Settings
from service.sms.inbound import BadSignature, InboundSms

MAX_AGE_SECONDS = 300
INBOUND_EVENT = "sms.inbound"


def signature(key: str, timestamp: str, url: str, body: bytes) -> str:
    """Bird's `messagebird-signature` for this request."""
    signed = b"\n".join((timestamp.encode(), url.encode(), hashlib.sha256(body).digest()))
    return base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest()).decode()


def read(url: str, headers: Mapping[str, str], body: bytes, settings: Settings,
         now: datetime) -> InboundSms:
    key = settings.bird_signing_key
    if not key:
        raise BadSignature("Bird webhooks are not configured "
                           "(BIRD_SIGNING_KEY; a tenant's own: TENANT_SECRETS)")
    sent = headers.get("messagebird-signature", "")
    timestamp = headers.get("messagebird-request-timestamp", "").strip()
    if not sent or not timestamp:
        raise BadSignature("missing messagebird-signature or messagebird-request-timestamp")
    try:
        given = base64.b64decode(sent.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("unreadable messagebird-signature") from None
    if not hmac.compare_digest(base64.b64decode(signature(key, timestamp, url, body)), given):
        raise BadSignature("bad Bird signature")
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS:
        raise BadSignature(f"Bird timestamp is more than {MAX_AGE_SECONDS} seconds from now")
    return _message(body)


def _message(body: bytes) -> InboundSms:
    try:
        event = json.loads(body)
    except ValueError:
        raise InputError("body", "is not JSON") from None
    if not isinstance(event, dict):
        raise InputError("body", "must be a JSON object")
    if event.get("event") != INBOUND_EVENT:
        raise InputError("event", f"only {INBOUND_EVENT} is read; subscribe this URL to it alone")
    fields = {
        "payload.id": _dig(event, "payload", "id"),
        "payload.sender.contact.identifierValue":
            _dig(event, "payload", "sender", "contact", "identifierValue"),
        "payload.receiver.connector.identifierValue":
            _dig(event, "payload", "receiver", "connector", "identifierValue")
            or _dig(event, "payload", "channelId"),
        "payload.body.text.text": _dig(event, "payload", "body", "text", "text"),
    }
    for name, value in fields.items():
        if not isinstance(value, str) or (not value and not name.endswith(".text")):
            raise InputError(name, "is missing from the signed Bird message")
    return InboundSms("bird", *fields.values())


def _dig(value: Any, *names: str) -> Any:
    """The value at that path of nested objects, or None where the path breaks."""
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value
