"""`POST /p`: email me a link to my preferences, without telling anyone whether we know you.

Known and unknown addresses take the same path and do the same work: parse the address, look
up its contact and suppression state (one indexed query each), sign a preferences token, and
write one row to the outbox in one write transaction (the commit, with its fsync, is what
costs time). For a known, deliverable address that row is the email job; otherwise it is a
`noop` row, stored as already done, that the worker never picks up. The page answers the same
in both cases. Both rows carry the same dedupe key, a hash of the address key and a 10-minute
window, so one address gets at most one link per window however often it is asked for: the
per-address rate limit, shared by every instance through the database. Per client, a counter
in the page rate-limit store (Redis when REDIS_URL is set) allows CLIENT_LIMIT requests an hour,
on top of the service-wide page rate limit.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from service.consent.decision import BLOCKS_ALL, lookup_state
from service.consent.ledger import Tx
from service.contacts.store import contact_for_address, new_contact_id
from service.outbox import enqueue
from service.preferences import queries as q
from service.runtime import Runtime
from service.security.tokens import ALL_TOPICS, TokenData

LINK_WINDOW_SECONDS = 600
CLIENT_LIMIT = 10
CLIENT_WINDOW_SECONDS = 3600
CLIENT_STORE = "rate_limit_pages"


def window_dedupe_key(kind: str, address_key: str, now: datetime,
                      window_seconds: int = LINK_WINDOW_SECONDS) -> str:
    """One job per (kind, address, time window); the address key itself is not stored."""
    bucket = int(now.timestamp()) // window_seconds
    return f"{kind}:" + hashlib.sha256(f"{address_key}:{bucket}".encode()).hexdigest()[:40]


def preferences_url(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_base_url.rstrip('/')}/p/{token}"


async def record_noop(tx: Tx, dedupe_key: str, now: datetime) -> None:
    """The write an unknown address costs: an outbox row that is already done."""
    await tx.execute(q.RECORD_NOOP, json.dumps({}), dedupe_key, now)


async def request_link(rt: Runtime, raw_address: str, lang: str, now: datetime) -> None:
    """Queue a preferences link for `raw_address` if we know it. Raises AddressError for an
    address that cannot be parsed; answers nothing about whether it is known."""
    normalized, key = rt.parse_address("email", raw_address)
    async with rt.db.transaction() as tx:
        contact_id = await contact_for_address(tx, "email", key)
        state = await lookup_state(tx, "email", key)
        deliverable = not any(reason in BLOCKS_ALL for _, reason in state.suppressions)
        token = rt.signer.sign("preferences", TokenData(contact_id or new_contact_id(), "email",
                                                        ALL_TOPICS))
        dedupe_key = window_dedupe_key("preferences-link", key, now)
        if contact_id is not None and deliverable:
            await enqueue(tx, "email", {
                "to": normalized, "template": "preferences_link", "lang": lang,
                "context": {"url": preferences_url(rt, token)}, "list_unsubscribe": None,
            }, dedupe_key=dedupe_key, now=now)
        else:
            await record_noop(tx, dedupe_key, now)


async def client_allowed(store, client: str, now: datetime) -> tuple[bool, int]:
    """(allowed, seconds until the window resets) for one more request from `client`."""
    stamp = int(now.timestamp())
    window = stamp // CLIENT_WINDOW_SECONDS
    name = f"preference-link:{client}:{window}"
    count = int(await store.get(name) or 0) + 1
    await store.set(name, str(count), expires_in=CLIENT_WINDOW_SECONDS)
    return count <= CLIENT_LIMIT, CLIENT_WINDOW_SECONDS - stamp % CLIENT_WINDOW_SECONDS
