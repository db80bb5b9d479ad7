"""Amazon SES events delivered by SNS: signature check, subscription handshake, event mapping.

Every SNS message is verified before anything else is read: the signing certificate is fetched
(once, then cached by URL) only from an https URL ending in `.pem` on a host matching
`sns.<region>.amazonaws.com[.cn]`, and the signature (SignatureVersion 1: RSA SHA1, 2: RSA SHA256)
must match the canonical string of the message's fields. A topic ARN not in SES_SNS_TOPIC_ARNS
(when set) is refused. A tenant other than the default must name its topics (TENANT_SECRETS) or
is refused at once: AWS signs every tenant's messages alike, so the topic alone tells them apart.
A verified `SubscriptionConfirmation` is confirmed by a GET of its SubscribeURL, itself only on
such a host. Raw message delivery (no SNS envelope, no signature) is refused: it cannot be told
apart from a forgery.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service.runtime import Runtime
from service.tenants.model import DEFAULT_TENANT_ID
from service.webhooks.events import EspEvent, Parsed, bad_body, iso_time, mailbox, rejected

log = logging.getLogger("service.webhooks.ses")
SNS_HOST = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
}
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]
# Signing certificates' public keys by URL; tests put the sample certificate here.
CERT_CACHE: dict[str, rsa.RSAPublicKey] = {}


def allowed_sns_url(url: str, pem: bool) -> bool:
    parts = urlsplit(url)
    return (parts.scheme == "https" and parts.port in (None, 443) and not parts.username
            and SNS_HOST.match(parts.hostname or "") is not None
            and (not pem or parts.path.endswith(".pem")))


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = SIGNED_FIELDS[message["Type"]]
    return "".join(f"{k}\n{message[k]}\n" for k in fields if k in message).encode()


async def fetch_certificate(url: str) -> rsa.RSAPublicKey:
    key = CERT_CACHE.get(url)
    if key is None:
        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
            response = await client.get(url)
            response.raise_for_status()
        public = x509.load_pem_x509_certificate(response.content).public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("not an RSA certificate")
        key = CERT_CACHE[url] = public
    return key


async def verify(message: dict[str, Any]) -> None:
    """Raise a 403 InputError unless SNS signed this message."""
    if message.get("Type") not in SIGNED_FIELDS:
        raise rejected(403, "not an SNS message (raw message delivery is not accepted)")
    version = str(message.get("SignatureVersion", ""))
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)  # noqa: S303
    url = message.get("SigningCertURL") or message.get("SigningCertUrl") or ""
    if algorithm is None:
        raise rejected(403, f"unsupported SNS SignatureVersion {version!r}")
    if not isinstance(url, str) or not allowed_sns_url(url, pem=True):
        raise rejected(403, "SigningCertURL is not an https .pem URL on an SNS host")
    if not all(isinstance(message.get(k, ""), str) for k in SIGNED_FIELDS[message["Type"]]):
        raise rejected(403, "SNS message fields must be strings")
    try:
        signature = base64.b64decode(message.get("Signature", ""), validate=True)
    except (binascii.Error, TypeError):
        raise rejected(403, "the SNS signature is not base64") from None
    try:
        key = await fetch_certificate(url)
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("cannot fetch SNS signing certificate %s: %s", url, type(exc).__name__)
        raise rejected(403, "the SNS signing certificate could not be fetched") from None
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise rejected(403, "the SNS signature does not match") from None


async def confirm_subscription(url: str) -> None:
    """The SNS handshake: a GET of the SubscribeURL (tests replace this function)."""
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()


async def receive(rt: Runtime, headers: Any, body: bytes) -> Parsed:
    try:
        message = json.loads(body)
    except ValueError:
        raise bad_body("is not an SNS message (JSON)") from None
    if not isinstance(message, dict):
        raise bad_body("is not an SNS message (JSON object)")
    allowed = [a.strip() for a in rt.settings.ses_sns_topic_arns.split(",") if a.strip()]
    if not allowed and rt.tenant_id != DEFAULT_TENANT_ID:
        # AWS signs every SNS message alike: only the topic tells one tenant's from another's
        raise rejected(403, "SES webhooks are not configured for this tenant "
                            "(ses_sns_topic_arns in TENANT_SECRETS)")
    await verify(message)
    if allowed and message.get("TopicArn") not in allowed:
        raise rejected(403, "unexpected SNS TopicArn")
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        url = message.get("SubscribeURL", "")
        if not allowed_sns_url(url, pem=False):
            raise rejected(403, "SubscribeURL is not an https URL on an SNS host")
        try:
            await confirm_subscription(url)
        except httpx.HTTPError as exc:  # SNS resends the confirmation; say so and retry then
            raise rejected(502, f"confirming the subscription failed ({type(exc).__name__})") \
                from None
        log.info("confirmed SNS subscription to %s", message.get("TopicArn"))
        return Parsed(confirmed=True)
    if kind == "UnsubscribeConfirmation":
        return Parsed(ignored=1)
    try:
        ses = json.loads(message.get("Message", ""))
    except ValueError:
        return Parsed(ignored=1)  # a notification that is not from SES
    return ses_events(ses, message.get("MessageId"))


def ses_events(ses: Any, sns_id: str | None = None) -> Parsed:
    """Map one SES notification (or configuration-set event) to events."""
    parsed = Parsed()
    if not isinstance(ses, dict):
        parsed.ignored += 1
        return parsed
    kind = ses.get("notificationType") or ses.get("eventType")
    mail = ses.get("mail") if isinstance(ses.get("mail"), dict) else {}
    ref = mail.get("messageId") or sns_id

    def add(event_kind: str, recipients: Any, when: Any, topic: str | None = None) -> None:
        for recipient in recipients if isinstance(recipients, list) else []:
            value = recipient.get("emailAddress") if isinstance(recipient, dict) else recipient
            address = mailbox(value)
            if address:
                parsed.events.append(EspEvent(event_kind, address, iso_time(when), "ses",
                                              topic, ref))
    if kind == "Bounce" and isinstance(ses.get("bounce"), dict):
        bounce = ses["bounce"]
        hard = bounce.get("bounceType") == "Permanent"
        add("hard_bounce" if hard else "soft_bounce", bounce.get("bouncedRecipients"),
            bounce.get("timestamp"))
    elif kind == "Complaint" and isinstance(ses.get("complaint"), dict):
        complaint = ses["complaint"]
        if complaint.get("complaintFeedbackType") != "not-spam":
            add("complaint", complaint.get("complainedRecipients"), complaint.get("timestamp"))
    elif kind == "Subscription" and isinstance(ses.get("subscription"), dict):
        sub = ses["subscription"]
        new = sub.get("newTopicPreferences") or {}
        if new.get("unsubscribeAll"):
            add("unsubscribed", mail.get("destination"), sub.get("timestamp"))
        else:
            for status in new.get("topicSubscriptionStatus") or []:
                if isinstance(status, dict) and status.get("subscriptionStatus") == "OptOut":
                    add("unsubscribed", mail.get("destination"), sub.get("timestamp"),
                        topic=str(status.get("topicName") or "") or None)
    if not parsed.events:
        parsed.ignored += 1
    return parsed
