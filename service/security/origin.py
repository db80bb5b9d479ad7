"""Who asked: the IP and user agent every ledger event records, read one way for every source.

The ledger keeps these as proof of a person's choice, so they are stored as the client sent
them, within one limit: the user agent cut to 500 characters (a header may be far longer, and
no real agent is) with NUL characters removed (PostgreSQL refuses them in text columns), and
the IP cut to 64. The one-click, the unsubscribe page and its undo, the preference centre, the
double opt-in and `PUT /v1/contacts/{id}/preferences` all read a request through
`request_origin`; the mailto listener, which has no HTTP request, through `origin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.consent.ledger import Proof

MAX_USER_AGENT = 500
MAX_IP = 64


@dataclass(frozen=True, slots=True)
class Origin:
    """The client's IP and user agent, already cut to the ledger's limits."""

    ip: str | None = None
    user_agent: str | None = None

    def proof(self, source: str, **fields: Any) -> Proof:
        """The ledger proof of a change from this client (`fields`: wording_version, campaign,
        message_ref, api_key_id)."""
        return Proof(source=source, ip=self.ip, user_agent=self.user_agent, **fields)


def origin(ip: str | None, user_agent: str | None) -> Origin:
    """An `Origin` from raw values, cut and cleaned; empty values become None."""
    agent = (user_agent or "").replace("\x00", "")[:MAX_USER_AGENT] or None
    return Origin(ip=(ip or "")[:MAX_IP] or None, user_agent=agent)


def request_origin(request: Any) -> Origin:
    """The origin of an HTTP request (a Litestar `Request`)."""
    client = request.client
    return origin(client.host if client else None, request.headers.get("user-agent"))
