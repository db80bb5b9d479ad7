"""Outbox sender for kind `email`: multipart text + HTML over SMTP with aiosmtplib.

Payload (see docs/ARCHITECTURE.md):
`{"to", "template", "lang", "context", "list_unsubscribe": {"url", "mailto"} | null}`.
Any failure raises, so the outbox worker retries the job later with backoff.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import aiosmtplib

from service.mail.render import RenderedEmail, render_email
from service.settings import Settings

# SMTP allows 998-character lines; the default 78 would RFC 2047-encode long header values
# such as List-Unsubscribe URLs, which mail clients then cannot use.
POLICY = policy.SMTP.clone(max_line_length=998)
SMTP_TIMEOUT_SECONDS = 30


def mail_domain(mail_from: str) -> str:
    """The domain of MAIL_FROM, for Message-IDs."""
    address = parseaddr(mail_from)[1]
    domain = address.rpartition("@")[2].strip()
    return domain or "localhost"


def list_unsubscribe_headers(spec: dict[str, Any] | None) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe (https and mailto) and RFC 8058 List-Unsubscribe-Post."""
    if not spec:
        return {}
    parts = []
    url, mailto = spec.get("url"), spec.get("mailto")
    if url:
        parts.append(f"<{url}>")
    if mailto:
        parts.append(f"<{mailto if mailto.startswith('mailto:') else 'mailto:' + mailto}>")
    if not parts:
        return {}
    headers = {"List-Unsubscribe": ", ".join(parts)}
    if url:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def build_message(settings: Settings, payload: dict[str, Any],
                  rendered: RenderedEmail) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = settings.mail_from
    message["To"] = payload["to"]
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=mail_domain(settings.mail_from))
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to these
    for name, value in list_unsubscribe_headers(payload.get("list_unsubscribe")).items():
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


async def send_email(rt: Any, payload: dict[str, Any]) -> None:
    settings: Settings = rt.settings
    rendered = render_email(settings, payload["template"], payload.get("lang"),
                            payload.get("context") or {})
    message = build_message(settings, payload, rendered)
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        use_tls=settings.smtp_tls == "tls",
        start_tls=settings.smtp_tls == "starttls",
        timeout=SMTP_TIMEOUT_SECONDS,
    )


SENDERS = {"email": send_email}
