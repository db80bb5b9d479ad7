"""Writing consent: a ledger event and the preference state, in the caller's transaction.

Every capability that changes what a person agreed to (API, one-click, preference centre,
double opt-in, imports, ESP webhooks, erasure) goes through `set_preference`, so the proof and
the state can never disagree, and every change reaches the change feed.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.consent import queries as q
from service.consent.chain import Heads
from service.db.keys import keys_arg
from service.db.tables import WHOLE_CHANNEL
from service.db.tenant_db import TenantTx
from service.ops.counters import UNSUBSCRIBES

# A consent writer's transaction: a tenant's (every statement it runs is the tenant's).
Tx = TenantTx
ACTIONS = ("opt_in", "opt_out", "pending", "confirmed", "paused", "resumed")
# every action the ledger may hold: ACTIONS plus those only record_event writes (privacy, DELETE)
LEDGER_ACTIONS = ACTIONS + ("restricted", "unrestricted", "erased", "suppressed", "unsuppressed",
                            "objected")  # objected: GDPR art. 21, consent/objection.py
# a person's pace (consent/pace.py): a frequency for a topic or a weekly cap on a channel
LEDGER_ACTIONS += ("frequency",)
SOURCES = (
    "api", "one_click", "unsubscribe_page", "preference_centre", "double_opt_in", "import",
    "esp_webhook", "mailto", "admin",
    "sms_keyword",
    "printed_code",  # a code printed on a letter or a fax, typed at /o (service/codes)
    "gpc",  # a browser's Global Privacy Control signal (Sec-GPC: 1), consent/gpc.py
    "objection",  # the opt-outs an objection to direct marketing wrote (consent/objection.py)
    # another brand's preference centre, of the same controller group (issue 18;
    # preferences/brands.py): the page's tenant is in the event's detail
    "stop_all_brands",
)
# the preference status each ledger action leaves behind (pause keeps the status)
STATUS_AFTER = {"opt_in": "opted_in", "confirmed": "opted_in", "opt_out": "opted_out",
                "pending": "pending"}


@dataclass(frozen=True, slots=True)
class Proof:
    """How a change came about: what a regulator asks to see."""

    source: str
    ip: str | None = None
    user_agent: str | None = None
    wording_version: str | None = None
    campaign: str | None = None
    message_ref: str | None = None
    api_key_id: int | None = None


async def record_change(
    tx: Tx, *, kind: str, op: str, channel: str, address_key: str | None, topic: str,
    contact_id: str | None, value: str, source: str, now: datetime,
) -> int:
    """Append to the change feed and return the new sequence number."""
    await tx.lock_feed()
    return await tx.fetchval(
        q.INSERT_CHANGE, kind, op, channel, address_key, topic, contact_id, value, source, now,
    )


def sealed_event(heads: Heads, *, contact_id: str, address_key: str | None, channel: str,
                 topic: str, action: str, proof: Proof, at: datetime, detail: str | None,
                 stored_at: Any = None) -> tuple:
    """The values of an event (q.MANY_EVENT_COLUMNS), sealed after its contact's head in
    `heads`, which it becomes. `detail` is JSON text; `stored_at` the time as the driver gets
    it, when that is not `at` itself (a batch's text for SQLite)."""
    event = {"contact_id": contact_id, "address_key": address_key, "channel": channel,
             "topic": topic, "action": action, "source": proof.source, "occurred_at": at,
             "ip": proof.ip, "user_agent": proof.user_agent,
             "wording_version": proof.wording_version, "campaign": proof.campaign,
             "message_ref": proof.message_ref, "api_key_id": proof.api_key_id, "detail": detail}
    sealed = heads.seal(event)
    return (contact_id, address_key, channel, topic, action, proof.source,
            at if stored_at is None else stored_at, proof.ip, proof.user_agent,
            proof.wording_version, proof.campaign, proof.message_ref, proof.api_key_id, detail,
            *sealed.columns())


async def chain_heads(tx: Tx, contact_ids: Collection[str]) -> Heads:
    """The chain heads of these contacts, in one keyed read, for a batch of events. Call it
    under the feed lock (`tx.lock_feed()`), so no other writer extends a chain meanwhile."""
    ids = sorted(set(contact_ids))
    rows = await tx.fetch(q.chain_heads_sql(tx.engine), keys_arg(tx.engine, ids)) if ids else []
    return Heads({row[0]: row[1] for row in rows})


async def record_event(
    tx: Tx, *, contact_id: str, channel: str, topic: str | None, action: str, proof: Proof,
    address_key: str | None = None, detail: dict | None = None, now: datetime | None = None,
) -> int:
    """Append one ledger event, chained after the contact's last one; returns its id."""
    # Under the feed lock, so two writers never both extend the same head (a forked chain).
    await tx.lock_feed()
    heads = Heads({contact_id: await tx.fetchval(q.CHAIN_HEAD, contact_id)})
    values = sealed_event(
        heads, contact_id=contact_id, address_key=address_key, channel=channel,
        topic=topic or WHOLE_CHANNEL, action=action, proof=proof, at=now or datetime.now(UTC),
        detail=json.dumps(detail) if detail is not None else None)
    return await tx.fetchval(q.INSERT_EVENT, *values)


async def set_preference(
    tx: Tx, *, contact_id: str, channel: str, topic: str | None, action: str, proof: Proof,
    paused_until: datetime | None = None, address_key: str | None = None,
    detail: dict | None = None, now: datetime | None = None,
) -> bool:
    """Apply `action` to (contact, channel, topic or whole channel) with its ledger event.

    Returns False, writing nothing, when the state already is what the action asks for (so
    repeated clicks leave one event per real change). `detail` is added to the event's detail.
    A person's stop or resume goes through `consent.choice.apply_choice`, which calls this and
    also writes the matching `unsubscribed` suppressions.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    # Serialize with other consent writers before reading, so two concurrent identical requests
    # cannot both see "not yet" and both write an event.
    await tx.lock_feed()
    current = await tx.fetchrow(q.PREFERENCE, contact_id, channel, topic_value)
    if action in ("paused", "resumed"):
        new_until = paused_until if action == "paused" else None
        status = current["status"] if current else "none"
        if current is not None and current["paused_until"] == new_until:
            return False
        if current is None and action == "resumed":
            return False
    else:
        status = STATUS_AFTER[action]
        new_until = current["paused_until"] if current else None
        if current is not None and current["status"] == status:
            return False
    if action == "opt_out":
        tx.after_commit(UNSUBSCRIBES.labels(proof.source).inc)  # a rollback counts nothing
    if action == "paused" and new_until:
        detail = {**(detail or {}), "paused_until": new_until.isoformat()}
    await record_event(tx, contact_id=contact_id, channel=channel, topic=topic_value,
                       action=action, proof=proof, address_key=address_key, detail=detail, now=now)
    seq = await record_change(tx, kind="preference", op="updated", channel=channel,
                              address_key=address_key, topic=topic_value, contact_id=contact_id,
                              value="paused" if action == "paused" else status,
                              source=proof.source, now=now)
    await tx.execute(
        q.UPSERT_PREFERENCE, contact_id, channel, topic_value, status, new_until, now, seq,
    )
    return True
