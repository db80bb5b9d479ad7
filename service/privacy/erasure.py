"""Removing a person while keeping them suppressed: erasure (GDPR art. 17) and retention.

`remove_person` runs inside the caller's transaction, so either all of it happens or none:
- every address of the contact gets a whole-channel suppression keyed only by its HMAC address
  key (`erased` for an erasure request; for retention `unsubscribed`, unless the address is
  already suppressed on the whole channel), with no contact id on it;
- the ledger keeps its events (action, time, source, wording, campaign: the proof) but loses
  IP, user agent, and the whole `detail` of any event whose detail mentions the person; these
  are only ever blanked (NULL), never rewritten, so the events' digests keep every hash chain
  verifiable (consent/chain.py); one `erased` event per address records the removal;
- outbox emails addressed to the person (pending or sent) are deleted; any other outbox job
  mentioning one of the addresses, IPs or user agents is redacted;
- preference state, addresses and the contact row are deleted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.consent.ledger import Proof, Tx, record_event
from service.contacts.store import addresses_of, contact_exists
from service.db.tables import WHOLE_CHANNEL
from service.privacy import queries as q
from service.suppression.store import add_suppression

REDACTED = "[erased]"
MIN_NEEDLE = 6  # shorter IP/user-agent strings are too likely to match unrelated text


@dataclass(slots=True)
class Removal:
    contact_id: str
    addresses: int = 0
    suppressions_added: int = 0
    ledger_events_scrubbed: int = 0
    outbox_deleted: int = 0
    outbox_redacted: int = 0


async def remove_person(
    tx: Tx, contact_id: str, *, why: str, source: str, api_key_id: int | None = None,
    now: datetime | None = None,
) -> Removal | None:
    """Erase (`why="request"`) or retire (`why="retention"`) a contact; None when unknown."""
    now = now or datetime.now(UTC)
    await tx.lock_feed()  # serialize with consent writers: nobody adds to this contact meanwhile
    if not await contact_exists(tx, contact_id):
        return None
    result = Removal(contact_id)
    addresses = await addresses_of(tx, contact_id)
    result.addresses = len(addresses)
    personal = await tx.fetch(q.PERSONAL, contact_id)
    plain = [v for a in addresses for v in (a["normalized"], a["given"])]
    extra = [v for row in personal for v in (row["ip"], row["user_agent"])
             if v and len(v) >= MIN_NEEDLE]
    suppression_source = "retention" if why == "retention" else source
    for address in addresses:
        channel, key = address["channel"], address["address_key"]
        reason = "erased"
        if why == "retention":
            if await tx.fetchval(q.WHOLE_CHANNEL_SUPPRESSED, channel, key, WHOLE_CHANNEL):
                reason = None
            else:
                reason = "unsubscribed"
        if reason and await add_suppression(tx, channel=channel, address_key=key, reason=reason,
                                            source=suppression_source, now=now):
            result.suppressions_added += 1
        await tx.execute(q.DELETE_SENDS_OF, channel, key)  # what mailers sent to it
        await record_event(tx, contact_id=contact_id, channel=channel, topic=None,
                           action="erased", address_key=key, detail={"reason": why},
                           proof=Proof(source=source, api_key_id=api_key_id), now=now)
    result.ledger_events_scrubbed = await tx.execute(q.SCRUB_EVENTS, contact_id)
    await _scrub_details(tx, contact_id, plain + extra)
    result.outbox_deleted, result.outbox_redacted = await scrub_outbox(tx, plain, extra)
    await tx.execute(q.DELETE_PREFERENCES, contact_id)
    await tx.execute(q.DELETE_ADDRESSES, contact_id)
    await tx.execute(q.DELETE_CONTACT, contact_id)
    return result


def _contains(text: str, needles: list[str]) -> bool:
    folded = text.casefold()
    return any(n.casefold() in folded for n in needles if n)


def _redact(value: Any, needles: list[str]) -> Any:
    """A copy of a JSON value with every needle (in any case) replaced by REDACTED."""
    if isinstance(value, str):
        if not _contains(value, needles):
            return value
        out = value
        for needle in sorted({n for n in needles if n}, key=len, reverse=True):
            out = re.sub(re.escape(needle), REDACTED, out, flags=re.IGNORECASE)
        # case folding that changes lengths (e.g. German sharp s): drop the whole text
        return REDACTED if _contains(out, needles) else out
    if isinstance(value, list):
        return [_redact(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, needles) for k, v in value.items()}
    return value


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


async def _scrub_details(tx: Tx, contact_id: str, needles: list[str]) -> None:
    rows = await tx.fetch(q.EVENT_DETAILS, contact_id)
    for row in rows:
        detail = _load(row["detail"])
        if _contains(json.dumps(detail, ensure_ascii=False), needles):
            await tx.execute(q.BLANK_EVENT_DETAIL, row["id"])


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def scrub_outbox(tx: Tx, addresses: list[str], extra: list[str]) -> tuple[int, int]:
    """Delete emails to `addresses`; redact them (and `extra`) from every other job.
    Returns (deleted, redacted)."""
    needles = [n for n in {*addresses, *extra} if n]
    forms = {form for n in needles for form in (n, json.dumps(n)[1:-1])}
    candidates: set[int] = set()
    for form in forms:
        rows = await tx.fetch(q.OUTBOX_MENTIONING, _like(form))
        candidates.update(row["id"] for row in rows)
    deleted = redacted = 0
    for job_id in sorted(candidates):
        row = await tx.fetchrow(q.OUTBOX_JOB, job_id)
        payload = _load(row["payload"])
        error = row["last_error"] or ""
        if not (_contains(json.dumps(payload, ensure_ascii=False), needles)
                or _contains(error, needles)):
            continue  # the coarse LIKE matched something else
        to = payload.get("to") if isinstance(payload, dict) else None
        if row["kind"] == "email" and isinstance(to, str) and _contains(to, addresses):
            await tx.execute(q.DELETE_OUTBOX_JOB, job_id)
            deleted += 1
            continue
        await tx.execute(q.REDACT_OUTBOX_JOB, json.dumps(_redact(payload, needles)),
                         _redact(error, needles) or None, job_id)
        redacted += 1
    return deleted, redacted
