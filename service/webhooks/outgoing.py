"""Outgoing webhooks: every change of the feed, in order, signed, to each subscribed URL.

Each subscription keeps a cursor (`last_seq`, the last change its endpoint acknowledged). The
`webhook_fanout` loop (jobs.py) queues, through the outbox, one delivery job per subscription
and cursor position (dedupe key `webhook:<id>:<last_seq>`), so at most one job exists for a
position and the outbox's claim makes one worker at a time deliver it. The sender (senders.py)
posts the next WEBHOOK_BATCH_SIZE changes after the cursor and, on a 2xx, moves the cursor with
a compare-and-set; any failure leaves the cursor where it was and the outbox retries the same
job with backoff. So changes arrive in order, none is skipped, and none is acknowledged twice;
a job whose position is no longer the cursor (a worker died after delivering) does nothing.
When the outbox gives up on a job (MAX_ATTEMPTS) the subscription is switched off; switching
it on again (PATCH active=true) resumes from the cursor. See docs/webhooks.md.

A subscription is its tenant's and delivers that tenant's changes only (issue 18). One fan-out
pass serves every tenant's subscriptions, each against its own tenant's end of the feed, and
queues each job in the subscription's tenant, whose view the outbox worker then sends it in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from service import outbox
from service.errors import InputError, NotFound
from service.runtime import Runtime
from service.suppression.store import last_seq
from service.webhooks import queries as q

log = logging.getLogger("service.webhooks.outgoing")
KIND = "webhook"
SIGNATURE_HEADER = "Webhook-Signature"
ID_HEADER = "Webhook-Id"


def dedupe_key(subscription_id: int, position: int) -> str:
    return f"webhook:{subscription_id}:{position}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def check_url(url: str, production: bool) -> str:
    parts = urlsplit(url)
    schemes = ("https",) if production else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname:
        raise InputError("url", "must be an https URL" if production else "must be an http(s) URL")
    return url


# -- subscriptions (admin API) ------------------------------------------------------------------
async def create_subscription(rt: Runtime, url: str, from_start: bool) -> dict[str, Any]:
    check_url(url, rt.settings.environment == "production")
    secret = "whsec_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with rt.db.transaction() as tx:
        start = 0 if from_start else await last_seq(tx)
        sub_id = await tx.fetchval(q.CREATE_SUBSCRIPTION, url, secret, True, int(start), now)
    return {"id": sub_id, "url": url, "secret": secret, "active": True, "last_seq": int(start),
            "created_at": now}


async def list_subscriptions(rt: Runtime) -> list[dict[str, Any]]:
    rows = await rt.db.fetch(q.LIST_SUBSCRIPTIONS)
    result = []
    for row in rows:
        job = await rt.db.fetchrow(q.JOB, dedupe_key(row["id"], row["last_seq"]))
        result.append({**dict(row), "active": bool(row["active"]),
                       "failing": bool(job and job["last_error"]),
                       "last_error": job["last_error"] if job else None})
    return result


async def set_active(rt: Runtime, sub_id: int, active: bool) -> None:
    async with rt.db.transaction() as tx:
        row = await tx.fetchrow(q.CURSOR, sub_id)
        if row is None:
            raise NotFound("id", "no webhook subscription with this id")
        await tx.execute(q.SET_ACTIVE, active, sub_id)
        if active:  # a job the outbox gave up on would block the position for ever
            await tx.execute(q.DELETE_DEAD_JOB, dedupe_key(sub_id, row["last_seq"]))


async def delete_subscription(rt: Runtime, sub_id: int) -> None:
    async with rt.db.transaction() as tx:
        if not await tx.execute(q.DELETE_SUBSCRIPTION, sub_id):
            raise NotFound("id", "no webhook subscription with this id")


# -- delivery -----------------------------------------------------------------------------------
async def schedule(rt: Runtime) -> int:
    """Queue a delivery job for every active subscription (of every tenant) behind its
    tenant's feed; returns how many were queued. Switches off subscriptions whose job the
    outbox gave up on."""
    subs = await rt.db.fetch(q.BEHIND, True)
    queued = 0
    for sub in subs:
        key = dedupe_key(sub["id"], sub["last_seq"])
        async with rt.for_tenant(sub["tenant_id"]).db.transaction() as tx:
            status = await tx.fetchval(q.JOB_STATUS, key)
            if status == "dead":
                log.error("webhook subscription %s stopped: deliveries after change %s kept "
                          "failing; switch it on again when the endpoint works", sub["id"],
                          sub["last_seq"])
                await tx.execute(q.SET_ACTIVE, False, sub["id"])
            elif status is None:
                queued += await outbox.enqueue(
                    tx, KIND, {"subscription_id": sub["id"], "from_seq": sub["last_seq"]},
                    dedupe_key=key)
    return queued


def _change(row: Any) -> dict[str, Any]:
    when = row["occurred_at"]
    if isinstance(when, datetime):
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
    return {"seq": row["seq"], "kind": row["kind"], "op": row["op"], "channel": row["channel"],
            "address_key": row["address_key"], "topic": row["topic"] or None,
            "contact_id": row["contact_id"], "value": row["value"], "source": row["source"],
            "time": when}


async def deliver(rt: Runtime, payload: dict[str, Any]) -> None:
    """The outbox sender: post the next batch after the cursor; raise to be retried."""
    sub = await rt.db.fetchrow(q.SUBSCRIPTION, payload["subscription_id"])
    if sub is None or not sub["active"] or sub["last_seq"] != payload["from_seq"]:
        return  # deleted, switched off, or this position was delivered already
    rows = await rt.db.fetch(q.CHANGES_AFTER, sub["last_seq"], rt.settings.webhook_batch_size)
    if not rows:
        return
    changes = [_change(row) for row in rows]
    body = json.dumps({"subscription_id": sub["id"], "changes": changes},
                      separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "preference-service-webhooks/1",
        ID_HEADER: f"{sub['id']}-{changes[0]['seq']}-{changes[-1]['seq']}",
        SIGNATURE_HEADER: sign(sub["secret"], int(time.time()), body),
    }
    async with httpx.AsyncClient(timeout=rt.settings.webhook_timeout_seconds,
                                 follow_redirects=False) as client:
        response = await client.post(sub["url"], content=body, headers=headers)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{sub['url']} answered {response.status_code}")
    async with rt.db.transaction() as tx:
        await tx.execute(q.MOVE_CURSOR, changes[-1]["seq"], sub["id"], sub["last_seq"])
