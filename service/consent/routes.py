"""Preferences of a contact (per channel and topic, pause) and its consent ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Request, get, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from service.apikeys.guard import acting_key_id
from service.consent import logic
from service.consent.ledger import Proof
from service.consent.schemas import EventPage, PreferencesOut, PreferencesUpdate
from service.contacts.logic import check_contact_id
from service.contacts.store import contact_exists
from service.errors import NotFound
from service.runtime import RT
from service.security.origin import request_origin

READ = {"scope": "contacts:read"}
WRITE = {"scope": "contacts:write"}
TAGS = ["preferences"]


def proof_of(request: Request, data: PreferencesUpdate) -> Proof:
    """The proof every ledger event of this request carries."""
    return request_origin(request).proof(
        data.source, wording_version=data.wording_version, campaign=data.campaign,
        message_ref=data.message_ref, api_key_id=acting_key_id(request),
    )


@get("/contacts/{contact_id:str}/preferences", operation_id="getPreferences", opt=READ, tags=TAGS,
     summary="Read a contact's preferences")
async def get_preferences(rt: RT, contact_id: FromPath[str]) -> PreferencesOut:
    """Every (channel, topic) with a recorded status; `topic` null is the whole channel."""
    check_contact_id(contact_id)
    prefs = await logic.preferences_of(rt.db, contact_id)
    if not prefs and not await contact_exists(rt.db, contact_id):
        raise NotFound("contact_id", "no contact with this id")
    return PreferencesOut(contact_id=contact_id, preferences=prefs)


@put("/contacts/{contact_id:str}/preferences", operation_id="setPreferences", opt=WRITE, tags=TAGS,
     summary="Set a contact's preferences")
async def put_preferences(rt: RT, request: Request, contact_id: FromPath[str],
                          data: JSONBody[PreferencesUpdate]) -> PreferencesOut:
    """Opt in or out per (channel, topic) or a whole channel (`topic` null), pause until a time
    or resume (`paused_until: null`). All changes or none: an unknown topic, a topic not sent
    on that channel or a pause in the past is a 422 and nothing is written. Each real change
    writes a ledger event with the proof (source, IP, user agent, wording version, campaign,
    message reference, API key); repeating the current state writes nothing."""
    now = datetime.now(UTC)
    changes = await logic.plan_changes(rt.db, rt.topics, data.preferences, now)
    proof = proof_of(request, data)
    changed, prefs = await logic.save_changes(rt.db, contact_id, changes, proof, now)
    return PreferencesOut(contact_id=contact_id, preferences=prefs, changed=changed)


@get("/contacts/{contact_id:str}/events", operation_id="listConsentEvents",
     opt=READ, tags=["ledger"],
     summary="A contact's consent ledger")
async def get_events(
    rt: RT, contact_id: FromPath[str], cursor: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="Events per page")] = 50,
) -> EventPage:
    """The proof of consent: every event, newest first, `limit` a page; follow `next_cursor`
    for older ones."""
    events, next_cursor = await logic.events_page(rt.db, contact_id, cursor, limit)
    return EventPage(events=events, next_cursor=next_cursor)


api_routes = [get_preferences, put_preferences, get_events]
page_routes: list = []
