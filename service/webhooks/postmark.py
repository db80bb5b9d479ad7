"""Postmark webhooks: no signature, so basic auth or a secret header, then event mapping.

Configure either POSTMARK_WEBHOOK_USERNAME and _PASSWORD (put them in the webhook URL as
https://user:pass@host/v1/webhooks/postmark) or POSTMARK_WEBHOOK_HEADER ("Name: value", sent as
a custom header). With neither, every request is refused.

Keyed on RecordType/Type (not TypeCode): Bounce HardBounce -> hard_bounce, BadEmailAddress ->
invalid, SoftBounce/Transient/DnsError -> soft_bounce, SpamComplaint -> complaint, Unsubscribe ->
unsubscribed; SpamComplaint records -> complaint; SubscriptionChange with SuppressSending ->
its SuppressionReason (HardBounce, SpamComplaint, ManualSuppression -> unsubscribed). A
reactivation (SuppressSending false) never lifts anything here.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from service.runtime import Runtime
from service.webhooks.events import EspEvent, Parsed, bad_body, iso_time, mailbox, rejected

BOUNCE_TYPES = {"HardBounce": "hard_bounce", "BadEmailAddress": "invalid",
                "SoftBounce": "soft_bounce", "Transient": "soft_bounce",
                "DnsError": "soft_bounce", "SpamComplaint": "complaint",
                "Unsubscribe": "unsubscribed"}
SUPPRESSION_REASONS = {"HardBounce": "hard_bounce", "SpamComplaint": "complaint",
                       "ManualSuppression": "unsubscribed"}


def authenticate(settings: Any, headers: Any) -> None:
    user, password = settings.postmark_webhook_username, settings.postmark_webhook_password
    header = settings.postmark_webhook_header
    if not (user and password) and ":" not in header:
        raise rejected(403, "Postmark webhooks are not configured (POSTMARK_WEBHOOK_USERNAME "
                            "and _PASSWORD, or POSTMARK_WEBHOOK_HEADER; a tenant's own: "
                            "TENANT_SECRETS)")
    if user and password:
        given = headers.get("authorization", "")
        try:
            decoded = base64.b64decode(given[6:], validate=True).decode() \
                if given[:6].lower() == "basic " else ""
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if hmac.compare_digest(decoded.encode(), f"{user}:{password}".encode()):
            return
    if ":" in header:
        name, _, value = header.partition(":")
        if value.strip() and hmac.compare_digest(
                headers.get(name.strip().lower(), "").encode(), value.strip().encode()):
            return
    raise rejected(401, "bad or missing Postmark webhook credentials")


async def receive(rt: Runtime, headers: Any, body: bytes) -> Parsed:
    authenticate(rt.settings, headers)
    try:
        record = json.loads(body)
    except ValueError:
        raise bad_body("is not JSON") from None
    return postmark_events(record)


def postmark_events(record: Any) -> Parsed:
    parsed = Parsed()
    if not isinstance(record, dict):
        parsed.ignored += 1
        return parsed
    kind = None
    record_type = record.get("RecordType")
    if record_type == "Bounce":
        kind = BOUNCE_TYPES.get(record.get("Type"))
    elif record_type == "SpamComplaint":
        kind = "complaint"
    elif record_type == "SubscriptionChange" and record.get("SuppressSending") is True:
        kind = SUPPRESSION_REASONS.get(record.get("SuppressionReason"), "unsubscribed")
    address = mailbox(record.get("Email") or record.get("Recipient"))
    if kind is None or address is None:
        parsed.ignored += 1
        return parsed
    when = record.get("BouncedAt") or record.get("ChangedAt")
    parsed.events.append(EspEvent(kind, address, iso_time(when), "postmark", None,
                                  record.get("MessageID")))
    return parsed
