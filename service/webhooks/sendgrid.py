"""SendGrid Event Webhook: ECDSA signature check and event mapping.

The signature (header X-Twilio-Email-Event-Webhook-Signature, base64 DER) is ECDSA P-256 with
SHA-256 over the timestamp header's bytes followed by the raw body; the public key is
SENDGRID_WEBHOOK_PUBLIC_KEY (base64 DER, as SendGrid's settings page shows it).

bounce -> hard_bounce, except `type: blocked` (a temporary block: nothing); dropped for a
bounced / spam-reporting / unsubscribed / invalid address -> that reason; spamreport ->
complaint; unsubscribe -> unsubscribed; group_unsubscribe -> unsubscribed from the topic that
SENDGRID_GROUP_TOPICS maps the group to (the whole channel when unmapped); group_resubscribe
never lifts anything. deferred, delivered, open, click... are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from service.runtime import Runtime
from service.webhooks.events import EspEvent, Parsed, bad_body, iso_time, mailbox, rejected

SIGNATURE = "x-twilio-email-event-webhook-signature"
TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
DROPPED = {"bounced address": "hard_bounce", "spam reporting address": "complaint",
           "unsubscribed address": "unsubscribed", "invalid": "invalid"}


@lru_cache(maxsize=4)
def public_key(text: str) -> ec.EllipticCurvePublicKey:
    key = load_der_public_key(base64.b64decode(text))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic-curve key")
    return key


def verify(key_text: str, signature: str, timestamp: str, body: bytes) -> bool:
    try:
        public_key(key_text).verify(base64.b64decode(signature, validate=True),
                                    timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


async def receive(rt: Runtime, headers: Any, body: bytes) -> Parsed:
    key = rt.settings.sendgrid_webhook_public_key
    if not key:
        raise rejected(403, "SendGrid webhooks are not configured "
                            "(SENDGRID_WEBHOOK_PUBLIC_KEY; a tenant's own: TENANT_SECRETS)")
    signature, timestamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not signature or not timestamp or not verify(key, signature, timestamp, body):
        raise rejected(403, "missing or bad SendGrid event webhook signature")
    try:
        events = json.loads(body)
    except ValueError:
        raise bad_body("is not JSON") from None
    if not isinstance(events, list):
        raise bad_body("is not a JSON array of events")
    return sendgrid_events(events, rt.settings.sendgrid_group_topics)


def sendgrid_events(events: list, group_topics: dict[str, str]) -> Parsed:
    parsed = Parsed()
    for event in events:
        kind, topic = _kind(event, group_topics) if isinstance(event, dict) else (None, None)
        address = mailbox(event.get("email")) if kind else None
        if kind is None or address is None:
            parsed.ignored += 1
            continue
        parsed.events.append(EspEvent(kind, address, iso_time(event.get("timestamp")),
                                      "sendgrid", topic, event.get("sg_message_id")))
    return parsed


def _kind(event: dict, group_topics: dict[str, str]) -> tuple[str | None, str | None]:
    name = event.get("event")
    if name == "bounce":
        return (None if event.get("type") == "blocked" else "hard_bounce"), None
    if name == "dropped":
        return DROPPED.get(str(event.get("reason", "")).strip().lower()), None
    if name == "spamreport":
        return "complaint", None
    if name == "unsubscribe":
        return "unsubscribed", None
    if name == "group_unsubscribe":
        return "unsubscribed", group_topics.get(str(event.get("asm_group_id")))
    return None, None
