"""Mailgun webhooks: HMAC signature, replay protection, event mapping.

The signature is the hex HMAC-SHA256, keyed with MAILGUN_WEBHOOK_SIGNING_KEY, of timestamp +
token. A timestamp further than MAILGUN_WEBHOOK_MAX_AGE_SECONDS from now, or a token seen before
in that window, is answered 406 (Mailgun does not retry a 406); a bad signature 403.

failed/permanent -> hard_bounce; failed/temporary -> soft_bounce; complained -> complaint;
unsubscribed -> unsubscribed. Other events are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from service.runtime import Runtime
from service.webhooks.events import EspEvent, Parsed, bad_body, iso_time, mailbox, rejected

# token -> when it may be forgotten (it is stale by then anyway). Per process: see docs.
_SEEN: dict[str, float] = {}


def signature_ok(key: str, timestamp: str, token: str, signature: str) -> bool:
    expected = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def _remember(token: str, max_age: int) -> None:
    """Called once the event is written: a retry after a failure must still get through."""
    now = time.time()
    if len(_SEEN) > 10_000:
        for seen, until in list(_SEEN.items()):
            if until < now:
                del _SEEN[seen]
    _SEEN[token] = now + 2 * max_age


async def receive(rt: Runtime, headers: Any, body: bytes) -> Parsed:
    key = rt.settings.mailgun_webhook_signing_key
    if not key:
        raise rejected(403, "Mailgun webhooks are not configured "
                            "(MAILGUN_WEBHOOK_SIGNING_KEY; a tenant's own: TENANT_SECRETS)")
    try:
        payload = json.loads(body)
    except ValueError:
        raise bad_body("is not JSON") from None
    sig = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(sig, dict) or not all(
            isinstance(sig.get(k), str) for k in ("timestamp", "token", "signature")):
        raise rejected(403, "missing Mailgun signature")
    if not signature_ok(key, sig["timestamp"], sig["token"], sig["signature"]):
        raise rejected(403, "bad Mailgun signature")
    now = time.time()
    max_age = rt.settings.mailgun_webhook_max_age_seconds
    if not sig["timestamp"].isdigit() or abs(now - int(sig["timestamp"])) > max_age:
        raise rejected(406, "stale Mailgun timestamp")
    if _SEEN.get(sig["token"], 0) >= now:
        raise rejected(406, "this Mailgun token was used before")
    parsed = mailgun_events(payload.get("event-data"))
    parsed.on_success = lambda: _remember(sig["token"], max_age)
    return parsed


def mailgun_events(data: Any) -> Parsed:
    parsed = Parsed()
    if not isinstance(data, dict):
        parsed.ignored += 1
        return parsed
    name = data.get("event")
    kind = {"complained": "complaint", "unsubscribed": "unsubscribed"}.get(name)
    if name == "failed":
        kind = {"permanent": "hard_bounce", "temporary": "soft_bounce"}.get(data.get("severity"))
    address = mailbox(data.get("recipient"))
    if kind is None or address is None:
        parsed.ignored += 1
        return parsed
    headers = (data.get("message") or {}).get("headers") or {}
    parsed.events.append(EspEvent(kind, address, iso_time(data.get("timestamp")), "mailgun",
                                  None, headers.get("message-id") or data.get("id")))
    return parsed
