"""HTTP handlers of the records capability: ISO/IEC TS 27560 consent records (JSON-LD, W3C
DPV) and Kantara v1.1 consent receipts under /v1 (scope `contacts:read`); the person's own
receipts from the self-service data page, through the preference link.

The records always answer `application/ld+json` whatever the Accept header: JSON-LD is JSON,
and a JSON client reads the `+json` suffix as JSON.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath

from service.contacts.logic import check_contact_id
from service.contacts.store import contact_exists
from service.pages import render
from service.records import logic
from service.records import schemas as s
from service.records.vocab import JSONLD
from service.runtime import RT
from service.security import links as signed
from service.security.links import Link

READ = {"scope": "contacts:read"}
TAGS = ["privacy"]


@get("/contacts/{contact_id:str}/consent-records", operation_id="getConsentRecords",
     opt=READ, tags=TAGS, media_type=JSONLD,
     summary="Consent records of a contact (ISO/IEC TS 27560, JSON-LD with W3C DPV)")
async def consent_records(rt: RT, contact_id: FromPath[str]) -> Response[dict[str, Any]]:
    """A JSON-LD document (`@context`: `dpv` is https://w3id.org/dpv#; `@graph`: the data
    controller, the data subject and one `dpv:ConsentRecord` per (channel, topic) the contact
    has a preference or consent decision for): purpose, legal basis, consent status, the
    notice shown (wording version and SHA-256 of its text), the method, and the timeline of
    ledger events oldest first (never IP or user agent). 404 when there is no such contact.
    Always `application/ld+json`, whatever Accept asks: JSON-LD is JSON."""
    check_contact_id(contact_id)
    doc = await logic.consent_records(rt.db, rt.topics, rt.settings, contact_id)
    return Response(doc, media_type=JSONLD)


@get("/contacts/{contact_id:str}/consent-receipts/{event_id:int}",
     operation_id="getConsentReceipt", opt=READ, tags=TAGS,
     summary="Kantara consent receipt (v1.1) of an opt-in event")
async def consent_receipt(rt: RT, contact_id: FromPath[str],
                          event_id: FromPath[int]) -> s.ConsentReceipt:
    """For an `opt_in` or `confirmed` ledger event of this contact. 404, saying why, for no
    such contact, an event of another contact, and an event that is not an opt-in."""
    check_contact_id(contact_id)
    return s.ConsentReceipt(**await logic.consent_receipt(rt.db, rt.topics, rt.settings,
                                                          contact_id, event_id))


# -- the person's own receipts: the preference link names the contact; GETs change nothing ---
def _download(content: object, filename: str) -> Response:
    return Response(content, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@get("/p/{token:str}/receipts", include_in_schema=False, dependencies=signed.PREFERENCES)
async def own_receipts(rt: RT, request: Request, link: Link) -> Response:
    """Every opt-in receipt of the link's person, as one JSON file."""
    if not await contact_exists(rt.db, link.contact_id):
        return render(request, rt, "privacy/gone.html", status_code=410)
    receipts = await logic.all_receipts(rt.db, rt.topics, rt.settings, link.contact_id)
    return _download(receipts, "consent-receipts.json")


@get("/p/{token:str}/receipts/{event_id:int}", include_in_schema=False,
     dependencies=signed.PREFERENCES)
async def own_receipt(rt: RT, request: Request, link: Link, event_id: FromPath[int]) -> Response:
    """One receipt; only of the link's own person (another's event id is a 404)."""
    if not await contact_exists(rt.db, link.contact_id):
        return render(request, rt, "privacy/gone.html", status_code=410)
    receipt = await logic.consent_receipt(rt.db, rt.topics, rt.settings, link.contact_id,
                                          event_id)
    return _download(receipt, f"consent-receipt-{event_id}.json")


api_routes = [consent_records, consent_receipt]
page_routes = [own_receipts, own_receipt]
