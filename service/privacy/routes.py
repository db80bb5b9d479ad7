"""HTTP handlers of the privacy capability: export, erasure, restriction, consent proof and
wording versions under /v1; the self-service "download / delete my data" pages.

Scopes: reading (export, proof, wording) `contacts:read`; erasure and restriction
`contacts:write` (CRMs forward data-subject requests); registering wording versions `admin`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Literal

from litestar import MediaType, Request, Response, delete, get, post, put
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import Body, FromPath, JSONBody, QueryParameter

from service.apikeys.guard import acting_key
from service.consent.ledger import Proof
from service.contacts.store import contact_exists
from service.errors import MAX_JSON_INT
from service.pages import page_language, render
from service.privacy import logic, proof
from service.privacy import schemas as s
from service.records.logic import opt_ins
from service.runtime import RT, Runtime
from service.security import links as signed
from service.security.links import Link
from service.security.tokens import PRIVACY_ACTIONS

log = logging.getLogger("service.privacy")
READ = {"scope": "contacts:read"}
WRITE = {"scope": "contacts:write"}
ADMIN = {"scope": "admin"}
TAGS = ["privacy"]
Limit = Annotated[int, QueryParameter(ge=1, le=proof.MAX_LIMIT, description="Events per page")]
After = Annotated[int, QueryParameter(ge=0, le=MAX_JSON_INT,
                                      description="`next_after` of the previous page")]
Format = Annotated[Literal["json", "html"], QueryParameter(description="html: a printable page")]
FormBody = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


@dataclass
class _JsonOrHtml(Operation):
    """`format=html` answers the report as a printable page: documented beside the JSON."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content["text/html"] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))


def _source(request: Request) -> tuple[str, int | None]:
    key = acting_key(request)
    if key is None:
        return "api", None
    return ("admin" if "admin" in key.scopes else "api"), key.id


@get("/contacts/{contact_id:str}/export", operation_id="exportContact",
     opt=READ, tags=TAGS, summary="Export a contact")
async def export_contact(rt: RT, contact_id: FromPath[str]) -> s.ContactExport:
    """Everything held about a person: contact, addresses, preferences, the full consent ledger,
    suppressions of its addresses, and the consent texts referred to (docs/privacy.md)."""
    return await logic.export_contact(rt.db, contact_id)


@get("/contacts/{contact_id:str}/export/ledger.csv", operation_id="exportLedgerCsv",
     opt=READ, tags=TAGS, media_type="text/csv",
     summary="Export a contact's consent ledger as CSV")
async def export_ledger_csv(rt: RT, contact_id: FromPath[str]) -> Response[str]:
    export = await logic.export_contact(rt.db, contact_id)
    return Response(logic.ledger_csv(export), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="ledger-{contact_id}.csv"'})


@delete("/contacts/{contact_id:str}", operation_id="eraseContact",
        opt=WRITE, tags=TAGS, status_code=200,
        summary="Erase a contact")
async def erase_contact(rt: RT, request: Request, contact_id: FromPath[str]) -> s.ErasureOut:
    """Erasure (GDPR art. 17), in one transaction: the contact, its addresses and preferences
    go; ledger events lose IP and user agent; emails to it leave the outbox; each address stays
    suppressed as `erased`, keyed only by its HMAC key. Only a new double opt-in brings the
    address back. 404 when there is no such contact (or it was erased already)."""
    source, key_id = _source(request)
    removal = await logic.erase(rt.db, contact_id, source=source, api_key_id=key_id)
    log.info("contact %s erased (%d addresses) by API key %s", contact_id, removal.addresses,
             key_id)
    return s.ErasureOut(id=contact_id, addresses=removal.addresses,
                        suppressions_added=removal.suppressions_added,
                        ledger_events_scrubbed=removal.ledger_events_scrubbed,
                        outbox_deleted=removal.outbox_deleted,
                        outbox_redacted=removal.outbox_redacted)


@put("/contacts/{contact_id:str}/restriction", operation_id="restrictContact", opt=WRITE, tags=TAGS,
     summary="Restrict processing of a contact")
async def restrict_contact(rt: RT, request: Request, contact_id: FromPath[str],
                           data: JSONBody[s.RestrictionIn]) -> s.RestrictionOut:
    """GDPR art. 18: while restricted, every non-transactional message is blocked (reason
    `restricted`); nothing is deleted, and retention keeps the contact. Recorded in the ledger."""
    source, key_id = _source(request)
    changed = await logic.set_restriction(rt.db, contact_id, data.restricted, data.reason,
                                          Proof(source=source, api_key_id=key_id))
    return s.RestrictionOut(id=contact_id, restricted=data.restricted, changed=changed)


@post("/contacts/{contact_id:str}/objection", operation_id="objectToMarketing", opt=WRITE,
      tags=TAGS, status_code=200, summary="Object to direct marketing")
async def object_to_marketing(rt: RT, request: Request,
                              contact_id: FromPath[str]) -> s.ObjectionOut:
    """GDPR art. 21: all marketing on every channel the person has stops (whole-channel
    opt-outs, suppressions included); transactional topics go on. Recorded as one `objected`
    ledger event, which the consent proof shows. Idempotent: a repeat writes nothing."""
    source, key_id = _source(request)
    done = await logic.object_to_all_marketing(rt.db, contact_id,
                                               Proof(source=source, api_key_id=key_id))
    log.info("contact %s objected to direct marketing via API key %s (%s)", contact_id, key_id,
             "recorded" if done.recorded else "already on record")
    return s.ObjectionOut(id=contact_id, recorded=done.recorded, event_id=done.event_id,
                          channels=done.channels)


async def _proof_answer(request: Request, rt: Runtime, report: s.ProofReport, fmt: str):
    if fmt == "html":
        page = render(request, rt, "privacy/proof.html", report=report)
        page.media_type = MediaType.HTML  # the handler's default is JSON
        return page
    return report


@get("/consent-proof/contacts/{contact_id:str}", operation_id="proveContactConsent",
     opt=READ, tags=TAGS,
     summary="Consent proof for a contact", operation_class=_JsonOrHtml)
async def contact_proof(rt: RT, request: Request, contact_id: FromPath[str],
                        format: Format = "json", after: After = 0,
                        limit: Limit = proof.DEFAULT_LIMIT) -> s.ProofReport:
    """Every consent and withdrawal of one contact with the exact wording shown; also after
    erasure (then without addresses, IP or user agent). `format=html`: a printable page."""
    report = await proof.contact_proof(rt.db, contact_id, after, limit)
    return await _proof_answer(request, rt, report, format)


@get("/consent-proof/topics/{key:str}", operation_id="proveTopicConsent",
     opt=READ, tags=TAGS, summary="Consent proof for a topic",
     operation_class=_JsonOrHtml)
async def topic_proof(rt: RT, request: Request, key: FromPath[str], format: Format = "json",
                      after: After = 0, limit: Limit = proof.DEFAULT_LIMIT) -> s.ProofReport:
    """Who agreed to a topic, when, how, to which words, and every withdrawal (including
    whole-channel opt-outs of those people), by ledger order; page with `after`."""
    report = await proof.topic_proof(rt.db, key, after, limit)
    return await _proof_answer(request, rt, report, format)


@post("/wording-versions", operation_id="createWordingVersion",
      opt=ADMIN, tags=TAGS, summary="Register a consent wording version",
      responses={200: ResponseSpec(s.WordingOut, generate_examples=False,
                                   description="The same version exists already")})
async def create_wording(rt: RT, data: JSONBody[s.WordingIn]) -> Response[s.WordingOut]:
    """Immutable: 201 when created, 200 when the same key, text and language exist already,
    409 when the key exists with a different text (a changed text needs a new key)."""
    version, created = await logic.create_wording(rt.db, data)
    return Response(s.WordingOut(**version), status_code=201 if created else 200)


@get("/wording-versions/{key:str}", operation_id="getWordingVersion",
     opt=READ, tags=TAGS, summary="Read a wording version")
async def get_wording(rt: RT, key: FromPath[str]) -> s.WordingOut:
    return s.WordingOut(**await logic.get_wording(rt.db, key))


# -- self-service pages: handlers receive the verified token as `link` (security/links.py) ----
def _gone(request: Request, rt: Runtime):
    """A valid link whose person was erased: nothing left to show or delete."""
    return render(request, rt, "privacy/gone.html", status_code=410)


def _minutes(rt: Runtime) -> int:
    return max(1, rt.settings.privacy_link_max_age_seconds // 60)


@get("/p/{token:str}/data", include_in_schema=False, dependencies=signed.PREFERENCES)
async def data_page(rt: RT, request: Request, token: FromPath[str], link: Link) -> Response:
    """From the preference centre: buttons that email a confirmation link, and the person's
    consent receipts to download (service/records). Changes nothing."""
    if not await contact_exists(rt.db, link.contact_id):
        return _gone(request, rt)
    receipts = await opt_ins(rt.db, rt.topics, link.contact_id)
    return render(request, rt, "privacy/data.html", token=token, minutes=_minutes(rt),
                  receipts=receipts)


@post("/p/{token:str}/data", include_in_schema=False, status_code=200,
      dependencies=signed.PREFERENCES)
async def request_link(rt: RT, request: Request, token: FromPath[str], link: Link,
                       data: FormBody) -> Response:
    """Email a fresh, short-lived link; the footer link alone never downloads or deletes."""
    if not await contact_exists(rt.db, link.contact_id):
        return _gone(request, rt)
    action = data.get("action", "")
    if action not in PRIVACY_ACTIONS:
        return render(request, rt, "privacy/data.html", status_code=400, token=token,
                      minutes=_minutes(rt), error=True)
    lang = page_language(request, rt)
    sent_to = await logic.send_privacy_link(rt, link.contact_id, action, lang)
    return render(request, rt, "privacy/sent.html", sent_to=sent_to, action=action,
                  minutes=_minutes(rt), token=token)


@get("/privacy/{token:str}", include_in_schema=False, dependencies=signed.PRIVACY)
async def confirm_page(rt: RT, request: Request, link: Link) -> Response:
    """Shows the download button or the deletion confirmation; a GET changes nothing."""
    if not await contact_exists(rt.db, link.contact_id):
        return _gone(request, rt)
    return render(request, rt, "privacy/confirm.html", action=link.extra)


@post("/privacy/{token:str}", include_in_schema=False, status_code=200,
      dependencies=signed.PRIVACY)
async def perform(rt: RT, request: Request, link: Link) -> Response:
    if link.extra == "download":
        if not await contact_exists(rt.db, link.contact_id):
            return _gone(request, rt)
        export = await logic.export_contact(rt.db, link.contact_id)
        return Response(export.model_dump_json(indent=2), media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="my-data.json"'})
    removal = await logic.erase_own(rt.db, link.contact_id)
    if removal is None:
        return _gone(request, rt)
    log.info("contact %s erased on its own request (%d addresses)", link.contact_id,
             removal.addresses)
    return render(request, rt, "privacy/deleted.html")


api_routes = [export_contact, export_ledger_csv, erase_contact, restrict_contact,
              object_to_marketing, contact_proof, topic_proof, create_wording, get_wording]
page_routes = [data_page, request_link, confirm_page, perform]
