"""Consent records and receipts of one contact: read the rows, build the documents.

Plain async functions over the database, the topic cache and the settings; the documents
themselves are built by jsonld.py (ISO/IEC TS 27560, DPV) and receipt.py (Kantara v1.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.contacts.store import contact_exists
from service.db.tenant_db import TenantDb
from service.errors import NotFound
from service.records import jsonld, receipt
from service.records import queries as q
from service.records.vocab import OPT_IN_ACTIONS, Controller
from service.settings import Settings
from service.topics.cache import TopicCache, TopicInfo

GONE = "no contact with this id (it may have been erased)"


@dataclass(frozen=True, slots=True)
class OptIn:
    """One opt-in event, as the self-service data page lists it."""

    id: int
    occurred_at: datetime
    channel: str
    topic: str  # the topic's name, or "" for the whole channel


def _event(row) -> dict[str, Any]:
    return dict(zip(q.EVENT_COLUMNS, row, strict=True))


async def _wordings(db: TenantDb, keys: set[str]) -> dict[str, jsonld.Wording]:
    if not keys:
        return {}
    rows = await db.fetch(q.wordings_sql(len(keys)), *sorted(keys))
    return {r["key"]: jsonld.Wording(r["key"], r["text"], r["language"]) for r in rows}


async def _require_contact(db: TenantDb, contact_id: str) -> None:
    if not await contact_exists(db, contact_id):
        raise NotFound("contact_id", GONE)


async def consent_records(db: TenantDb, topics: TopicCache, settings: Settings,
                          contact_id: str) -> dict[str, Any]:
    """The contact's consent records as a JSON-LD document; NotFound for no such contact."""
    await _require_contact(db, contact_id)
    events = [_event(r) for r in await db.fetch_long(q.EVENTS, contact_id)]
    preferences = [dict(zip(("channel", "topic", "status", "paused_until", "updated_at"), r,
                            strict=True)) for r in await db.fetch(q.PREFERENCES, contact_id)]
    ledger = jsonld.Ledger(
        contact_id=contact_id, preferences=preferences, events=events,
        wordings=await _wordings(db, {e["wording_version"] for e in events
                                      if e["wording_version"]}),
        topics=await topics.all(db))
    return jsonld.build(ledger, Controller.from_settings(settings), datetime.now(UTC),
                        timedelta(days=settings.confirm_max_age_days))


def _receipt(event: dict, contact_id: str, topics: dict[str, TopicInfo],
             wordings: dict[str, jsonld.Wording], settings: Settings) -> dict[str, Any]:
    return receipt.build(event, contact_id, Controller.from_settings(settings),
                         topics.get(event["topic"]) if event["topic"] else None,
                         wordings.get(event["wording_version"] or ""),
                         settings.default_language)


async def consent_receipt(db: TenantDb, topics: TopicCache, settings: Settings,
                          contact_id: str, event_id: int) -> dict[str, Any]:
    """The Kantara receipt of one of the contact's opt-in events; NotFound, saying why, for
    no such contact, an event of someone else (or none) and an event that is no opt-in."""
    await _require_contact(db, contact_id)
    row = await db.fetchrow(q.EVENT, event_id, contact_id)
    if row is None:
        raise NotFound("event_id", "this contact has no consent event with this id")
    event = _event(row)
    if event["action"] not in OPT_IN_ACTIONS:
        raise NotFound("event_id", f"event {event_id} is an {event['action']!r} event; receipts"
                                   " exist only for opt-ins (opt_in, confirmed)")
    wordings = await _wordings(db, {event["wording_version"]} - {None})
    return _receipt(event, contact_id, await topics.all(db), wordings, settings)


async def _opt_in_rows(db: TenantDb, contact_id: str) -> list[dict[str, Any]]:
    return [_event(r) for r in await db.fetch(q.OPT_INS, contact_id, *OPT_IN_ACTIONS)]


async def all_receipts(db: TenantDb, topics: TopicCache, settings: Settings,
                       contact_id: str) -> list[dict[str, Any]]:
    """A receipt for every opt-in event of the contact, oldest first."""
    await _require_contact(db, contact_id)
    events = await _opt_in_rows(db, contact_id)
    wordings = await _wordings(db, {e["wording_version"] for e in events
                                    if e["wording_version"]})
    known = await topics.all(db)
    return [_receipt(e, contact_id, known, wordings, settings) for e in events]


async def opt_ins(db: TenantDb, topics: TopicCache, contact_id: str) -> list[OptIn]:
    """The contact's opt-in events for the data page, newest first."""
    known = await topics.all(db)
    return [OptIn(e["id"], e["occurred_at"], e["channel"],
                  known[e["topic"]].name if e["topic"] in known else e["topic"])
            for e in reversed(await _opt_in_rows(db, contact_id))]
