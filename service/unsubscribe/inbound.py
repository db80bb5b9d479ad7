"""The `mailto:` unsubscribe: an inbound SMTP listener (aiosmtpd) on the event loop.

It accepts mail only for UNSUBSCRIBE_MAILTO (`local@domain`, with or without `+TOKEN`), finds
the token in the recipient's local part (`local+TOKEN@domain`) or in the Subject
(`unsubscribe TOKEN`, which our mailto: links also carry: some relays lowercase local parts and
base64url is case-sensitive), and applies the same unsubscribe as the one-click link, with
source `mailto`, committed before the 250 reply.

Replies: 250 when a valid token was applied, whether or not its contact still exists (the
answer never tells); 550 when the message carries no valid token (nothing written; logged
without the token); 451 when the database is unavailable (the sending server retries).
Messages with a null sender (bounces, auto-replies) are accepted and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import re
from email.parser import BytesParser
from email.policy import default as default_policy

from aiosmtpd.smtp import SMTP

from service.errors import is_database_error
from service.runtime import Runtime
from service.security.links import read_link
from service.security.origin import origin
from service.security.tokens import BadToken, tenant_of
from service.unsubscribe import logic
from service.unsubscribe.links import mailto_parts

log = logging.getLogger("service.unsubscribe.mailto")
MAX_MESSAGE_BYTES = 256 * 1024  # an unsubscribe request is a few kilobytes at most
MAX_CANDIDATES = 10
# an itsdangerous token: [.]payload.signature in base64url, after a tenant's t{id}~ prefix
_TOKEN = re.compile(r"(?:t[1-9][0-9]{0,9}~)?\.?[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def token_candidates(recipients: list[str], subject: str) -> list[str]:
    """Possible tokens, the recipients' `+TOKEN` first, then tokens found in the subject."""
    found: list[str] = []
    for address in recipients:
        local = address.rpartition("@")[0].strip('"')
        if "+" in local:
            found.append(local.rpartition("+")[2])
    found.extend(_TOKEN.findall(subject or ""))
    unique = list(dict.fromkeys(t for t in found if t))
    return unique[:MAX_CANDIDATES]


class UnsubscribeHandler:
    """aiosmtpd handler: RCPT accepts only the unsubscribe address, DATA applies the token."""

    def __init__(self, rt: Runtime):
        parts = mailto_parts(rt.settings.unsubscribe_mailto)
        if parts is None:
            raise ValueError("UNSUBSCRIBE_MAILTO is not set (local@domain)")
        self.rt = rt
        self.local, self.domain = parts[0].lower(), parts[1].lower()

    def is_ours(self, address: str) -> bool:
        local, _, domain = address.rpartition("@")
        local = local.strip('"').lower()
        return domain.lower() == self.domain and (
            local == self.local or local.startswith(self.local + "+"))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if not self.is_ours(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def _tenant_runtime(self, token: str) -> Runtime:
        """The view of the tenant a token's prefix names (whose signer then verifies the
        token); the default tenant's for no prefix or a malformed one."""
        try:
            tenant_id = tenant_of(token)
        except BadToken:
            return self.rt
        if tenant_id != self.rt.tenant_id:  # read the tenant table again if it is new here
            await self.rt.tenants.find(self.rt.db, tenant_id=tenant_id)
        return self.rt.for_tenant(tenant_id)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if not envelope.mail_from or envelope.mail_from == "<>":
            log.info("ignored a message with a null sender (bounce or auto-reply)")
            return "250 2.0.0 OK, ignored"
        try:
            message = BytesParser(policy=default_policy).parsebytes(
                envelope.original_content or envelope.content or b"", headersonly=True)
            subject = str(message.get("subject", ""))
            agent = message.get("user-agent") or message.get("x-mailer")
        except Exception:  # a malformed header must not crash the session
            subject, agent = "", None
        tokens = []
        for candidate in token_candidates(envelope.rcpt_tos, subject):
            rt = await self._tenant_runtime(candidate)  # the tenant its prefix names, checked below
            data = read_link(rt.signer, "unsubscribe", candidate)
            if data is not None and (rt, data) not in tokens:
                tokens.append((rt, data))
        if not tokens:
            log.warning("rejected a mailto unsubscribe without a valid token")
            return "550 5.7.1 No valid unsubscribe token in the address or subject"
        sender = origin(session.peer[0] if session.peer else None,
                        str(agent) if agent else None)
        try:
            for rt, data in tokens:
                proof = sender.proof("mailto", campaign=data.campaign or None)
                await logic.unsubscribe(rt.db, data, proof)
        except Exception as exc:
            if is_database_error(exc):
                log.error("mailto unsubscribe deferred, database unavailable: %s",
                          type(exc).__name__)
                return "451 4.3.0 Temporary failure, please retry"
            log.exception("mailto unsubscribe failed")
            return "451 4.3.0 Temporary failure, please retry"
        return "250 2.0.0 Unsubscribed"


def quiet_aiosmtpd_logging() -> None:
    """aiosmtpd logs every SMTP command line (RCPT TO carries the token) at INFO."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)


async def start_server(rt: Runtime, host: str, port: int) -> asyncio.Server:
    """Listen on host:port on the running loop; the caller closes the returned server."""
    quiet_aiosmtpd_logging()
    handler = UnsubscribeHandler(rt)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, data_size_limit=MAX_MESSAGE_BYTES, enable_SMTPUTF8=True,
                     ident="prefservice unsubscribe", loop=loop),
        host=host, port=port,
    )
