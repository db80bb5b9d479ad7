"""Double opt-in: `POST /v1/subscriptions` (API) and the confirmation pages `/c/{token}`.

`GET /c/{token}` shows what will be confirmed, with a button, and changes nothing (mail scanners
fetch links). `POST /c/{token}` (CSRF-protected form) confirms. An expired link gets a page
offering a new one (`POST /c/{token}/renew`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from litestar import Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Template

from service.consent.ledger import Proof
from service.pages import render
from service.preferences.routes import client_ip, language, user_agent
from service.runtime import RT, Runtime
from service.security.tokens import BadToken, TokenData
from service.subscriptions.logic import LONG_AGO_SECONDS, confirm, load_target, queue_confirmation
from service.subscriptions.schemas import SubscriptionIn, SubscriptionOut
from service.subscriptions.signup import subscribe

log = logging.getLogger("service.subscriptions")
CONFIRM_WORDING = "confirm-page-1"  # the confirmation page's button text, recorded as proof


@post("/subscriptions", operation_id="createSubscription",
      opt={"scope": "contacts:write"}, status_code=202,
      tags=["subscriptions"])
async def create_subscription(request: Request, rt: RT,
                              data: JSONBody[SubscriptionIn]) -> SubscriptionOut:
    """Sign-up with double opt-in: records a `pending` consent per topic (with the wording
    version and, when given, the form's IP and user agent) and queues a confirmation email."""
    key = getattr(request.state, "api_key", None)
    return await subscribe(rt, data, getattr(key, "id", None), datetime.now(UTC))


def _read(rt: Runtime, token: str) -> tuple[TokenData | None, bool]:
    """(data, expired): data only for a fresh, valid token; expired for a genuine old one."""
    try:
        return rt.signer.verify("confirm", token), False
    except BadToken:
        pass
    try:
        rt.signer.verify("confirm", token, max_age=LONG_AGO_SECONDS)
        return None, True
    except BadToken:
        log.info("refused a bad confirmation link")  # never the token itself
        return None, False


async def _target_or_page(request: Request, rt: Runtime, token: str):
    data, expired = _read(rt, token)
    if expired:
        return None, render(request, rt, "confirm/expired.html", status_code=410, token=token)
    if data is None:
        return None, render(request, rt, "confirm/invalid.html", status_code=400)
    topics = await rt.topics.all(rt.db)
    target = await load_target(rt.db, topics, data)
    if target is None:
        return None, render(request, rt, "confirm/invalid.html", status_code=404)
    return (data, target), None


@get("/c/{token:str}", include_in_schema=False)
async def confirm_page(request: Request, rt: RT, token: FromPath[str]) -> Template:
    found, page = await _target_or_page(request, rt, token)
    if page is not None:
        return page
    _, target = found
    if not target.pending:
        return render(request, rt, "confirm/done.html", confirmed=[])
    return render(request, rt, "confirm/confirm.html", token=token, topics=target.pending)


@post("/c/{token:str}", status_code=200, include_in_schema=False)
async def confirm_submit(request: Request, rt: RT, token: FromPath[str]) -> Template:
    found, page = await _target_or_page(request, rt, token)
    if page is not None:
        return page
    data, _ = found
    form = await request.form()
    chosen = set(form.getall("topic", []))
    now = datetime.now(UTC)
    proof = Proof(source="double_opt_in", ip=client_ip(request), user_agent=user_agent(request),
                  wording_version=CONFIRM_WORDING, campaign=data.campaign or None)
    topics = await rt.topics.all(rt.db)
    async with rt.db.transaction() as tx:
        target = await load_target(tx, topics, data)
        confirmed = await confirm(tx, topics, target, chosen, proof, now) if target else []
    return render(request, rt, "confirm/done.html", confirmed=confirmed)


@post("/c/{token:str}/renew", status_code=200, include_in_schema=False)
async def confirm_renew(request: Request, rt: RT, token: FromPath[str]) -> Template:
    """A new confirmation link for a genuine (possibly expired) one."""
    try:
        data = rt.signer.verify("confirm", token, max_age=LONG_AGO_SECONDS)
    except BadToken:
        log.info("refused a bad confirmation link")
        return render(request, rt, "confirm/invalid.html", status_code=400)
    topics = await rt.topics.all(rt.db)
    now = datetime.now(UTC)
    async with rt.db.transaction() as tx:
        target = await load_target(tx, topics, data)
        if target is not None and target.pending:
            row = await tx.fetchrow("SELECT normalized FROM address WHERE id = $1",
                                    int(data.extra))
            await queue_confirmation(rt, tx, topics, contact_id=data.contact_id,
                                     address_id=int(data.extra), to=row["normalized"],
                                     address_key=target.address_key,
                                     lang=language(request, rt), now=now)
    if target is None:
        return render(request, rt, "confirm/invalid.html", status_code=404)
    if not target.pending:
        return render(request, rt, "confirm/done.html", confirmed=[])
    return render(request, rt, "confirm/renewed.html")


api_routes = [create_subscription]
page_routes = [confirm_page, confirm_submit, confirm_renew]
