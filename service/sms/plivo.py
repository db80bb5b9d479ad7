"""Plivo's inbound message webhook: X-Plivo-Signature-V3, form fields, a Plivo XML answer.

The V3 signature, as plivo-python's `utils/signature_v3.py` computes it for a POST:
base64(HMAC-SHA256(PLIVO_AUTH_TOKEN, base + "." + nonce)) where `base` is the URL without its
query, then "?" and the query parameters sorted by name as `name=value` joined by "&" (when
there is a query or a POST parameter), then "." (when there are both), then every POST
parameter as name + value sorted by name (a repeated name: its values sorted). The header
may list several signatures, comma-separated (one per active auth token): any one verifies.
The nonce comes in X-Plivo-Signature-V3-Nonce. Plivo's retry of a message carries the same
MessageUUID, which is what makes it write nothing twice (logic.py).

Fields: `From`, `To`, `Text`, `MessageUUID`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from service.errors import InputError
from service.sms.inbound import BadSignature, InboundSms, form_pairs

HEADER = "x-plivo-signature-v3"
NONCE_HEADER = "x-plivo-signature-v3-nonce"
MEDIA_TYPE = "text/xml"


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def signed_base(url: str, params: Iterable[tuple[str, str]]) -> str:
    """The string Plivo signs for a POST to `url` with form `params` (before "." + nonce)."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    query_string = "&".join(f"{name}={value}" for name in sorted(query)
                            for value in sorted(query[name]))
    posted = _grouped(params)
    if query_string or posted:
        base += "?" + query_string
    if query_string and posted:
        base += "."
    return base + "".join(name + value for name in sorted(posted) for value in sorted(posted[name]))


def signature(token: str, url: str, params: Iterable[tuple[str, str]], nonce: str) -> str:
    """Plivo's V3 signature of a POST to `url` with form `params` and `nonce`."""
    signed = f"{signed_base(url, params)}.{nonce}".encode()
    return base64.b64encode(hmac.new(token.encode(), signed, hashlib.sha256).digest()).decode()


def read(url: str, headers: Mapping[str, str], body: bytes, settings: Any,
         now: datetime) -> InboundSms:
    """The message, once its signature proves Plivo sent it (BadSignature otherwise)."""
    token = settings.plivo_auth_token
    if not token:
        raise BadSignature("Plivo webhooks are not configured "
                           "(PLIVO_AUTH_TOKEN; a tenant's own: TENANT_SECRETS)")
    given = [s.strip() for s in headers.get(HEADER, "").split(",") if s.strip()]
    nonce = headers.get(NONCE_HEADER, "")
    params = form_pairs(body)
    expected = signature(token, url, params, nonce).encode() if nonce else b""
    if not expected or not any(hmac.compare_digest(s.encode(), expected) for s in given):
        raise BadSignature("bad or missing X-Plivo-Signature-V3")
    fields = dict(params)
    for name in ("From", "To", "MessageUUID"):
        if not fields.get(name):
            raise InputError(name, "is required")
    return InboundSms(provider="plivo", message_id=fields["MessageUUID"],
                      from_number=fields["From"], to_number=fields["To"],
                      text=fields.get("Text", ""))


def answer(message: InboundSms | None, reply: str | None) -> bytes:
    """Plivo XML: an empty <Response/>, or one <Message> from our number to the sender."""
    inner = ""
    if reply and message is not None:
        inner = (f"<Message src={quoteattr(message.to_number.lstrip('+'))}"
                 f" dst={quoteattr(message.from_number.lstrip('+'))}"
                 f' type="sms">{escape(reply)}</Message>')
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'.encode()
