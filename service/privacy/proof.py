"""Consent proof (GDPR art. 7(1)): who agreed, when, how, to which exact words, and every
withdrawal, for one contact or one topic. Read from the ledger, which outlives erasure: after an
erasure the events are still there, without addresses, IP or user agent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.contacts.store import contact_exists
from service.db.engine import Database
from service.errors import NotFound
from service.privacy import queries as q
from service.privacy.schemas import ProofEntry, ProofReport

CONSENT_ACTIONS = ("opt_in", "confirmed")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


def kind_of(action: str, topic: str, subject: str) -> str:
    if action == "objected":
        return "objection"
    if action == "opt_out":
        return "withdrawal"
    if not topic and subject == "topic":
        return "other"  # a whole-channel opt-in is not consent to this topic
    if action in CONSENT_ACTIONS:
        return "consent"
    return "pending" if action == "pending" else "other"


def _objection(detail: object) -> int | None:
    """The objection an opt-out came from (its detail {"objection": event id}), if any."""
    if isinstance(detail, str | bytes):
        detail = json.loads(detail)
    found = detail.get("objection") if isinstance(detail, dict) else None
    return found if isinstance(found, int) else None


async def _addresses(db: Database, contact_ids: set[str]) -> dict[str, list]:
    found: dict[str, list] = {cid: [] for cid in contact_ids}
    ids = sorted(contact_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = await db.fetch(q.addresses_of_contacts_sql(len(chunk)), *chunk)
        for row in rows:
            found[row["contact_id"]].append(row)
    return found


async def _report(db: Database, subject: str, key: str, rows: list, limit: int) -> ProofReport:
    addresses = await _addresses(db, {r["contact_id"] for r in rows})
    entries = []
    for r in rows:
        held = addresses[r["contact_id"]]
        exact = [a["normalized"] for a in held if a["address_key"] == r["address_key"]]
        on_channel = [a["normalized"] for a in held if a["channel"] == r["channel"]]
        entries.append(ProofEntry(
            event_id=r["id"], contact_id=r["contact_id"], addresses=exact or on_channel,
            channel=r["channel"], topic=r["topic"] or None, action=r["action"],
            kind=kind_of(r["action"], r["topic"], subject), occurred_at=r["occurred_at"],
            source=r["source"], ip=r["ip"], user_agent=r["user_agent"],
            wording_version=r["wording_version"], wording_text=r["wording_text"],
            wording_language=r["wording_language"], campaign=r["campaign"],
            message_ref=r["message_ref"], api_key_id=r["api_key_id"],
            objection=_objection(r["detail"])))
    return ProofReport(
        subject=subject, key=key, generated_at=datetime.now(UTC),
        consents=sum(e.kind == "consent" for e in entries),
        withdrawals=sum(e.kind == "withdrawal" for e in entries),
        objections=sum(e.kind == "objection" for e in entries),
        entries=entries, next_after=entries[-1].event_id if len(entries) == limit else None)


async def contact_proof(db: Database, contact_id: str, after: int = 0,
                        limit: int = DEFAULT_LIMIT) -> ProofReport:
    rows = await db.fetch_long(q.CONTACT_PROOF, contact_id, after, limit)
    if not rows and not after and not await contact_exists(db, contact_id):
        raise NotFound("contact_id", "no contact and no ledger events with this id")
    return await _report(db, "contact", contact_id, rows, limit)


async def topic_proof(db: Database, topic: str, after: int = 0,
                      limit: int = DEFAULT_LIMIT) -> ProofReport:
    """Events on the topic, plus the whole-channel events (such as "unsubscribe from all") of
    the people who have events on it: those withdraw the topic too."""
    rows = await db.fetch_long(q.TOPIC_PROOF, topic, "", after, limit)
    if not rows and not after and await db.fetchval(q.TOPIC_EXISTS, topic) is None:
        raise NotFound("key", "no topic and no ledger events with this key")
    return await _report(db, "topic", topic, rows, limit)
