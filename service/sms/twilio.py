"""Twilio's inbound message webhook: X-Twilio-Signature, form fields, a TwiML answer.

Twilio signs the full URL it called (scheme, host, path and query, exactly as configured in
the console) followed by every POST parameter's name and value, sorted by name, with no
separators: base64(HMAC-SHA1(TWILIO_AUTH_TOKEN, url + name1 + value1 + ...)). Behind a proxy
the service cannot see that URL, so it is rebuilt from PUBLIC_BASE_URL (routes.py).

Fields: `From`, `To`, `Body`, `MessageSid` (older webhooks: `SmsMessageSid`, `SmsSid`), and
`OptOutType` (STOP, START, HELP) when Advanced Opt-Out is on; Twilio has then already sent its
own reply, so ours is left out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from service.errors import InputError
from service.sms.inbound import BadSignature, InboundSms, form_pairs

HEADER = "x-twilio-signature"
OPT_OUT_TYPES = {"STOP": "stop", "START": "start", "HELP": "help"}
MEDIA_TYPE = "text/xml"


def signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's signature of a POST to `url` with form `params` (name, value pairs)."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def read(url: str, headers: Mapping[str, str], body: bytes, settings: Any,
         now: datetime) -> InboundSms:
    """The message, once its signature proves Twilio sent it (BadSignature otherwise)."""
    token = settings.twilio_auth_token
    if not token:
        raise BadSignature("Twilio webhooks are not configured "
                           "(TWILIO_AUTH_TOKEN; a tenant's own: TENANT_SECRETS)")
    given = headers.get(HEADER, "")
    params = form_pairs(body)
    if not given or not hmac.compare_digest(given.encode(), signature(token, url, params).encode()):
        raise BadSignature("bad or missing X-Twilio-Signature")
    fields = dict(params)
    for name in ("From", "To"):
        if not fields.get(name):
            raise InputError(name, "is required")
    message_id = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid")
    if not message_id:
        raise InputError("MessageSid", "is required")
    keyword = OPT_OUT_TYPES.get(fields.get("OptOutType", "").upper())
    return InboundSms(provider="twilio", message_id=message_id, from_number=fields["From"],
                      to_number=fields["To"], text=fields.get("Body", ""), keyword=keyword,
                      provider_replied=keyword is not None)


def answer(message: InboundSms | None, reply: str | None) -> bytes:
    """TwiML: an empty <Response/>, or one <Message> to the sender."""
    inner = f"<Message>{escape(reply)}</Message>" if reply else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'.encode()
