"""Double opt-in: `POST /v1/subscriptions` (API) and the confirmation pages `/c/{token}`.

`GET /c/{token}` shows what will be confirmed, with a button, and changes nothing (mail scanners
fetch links). `POST /c/{token}` (CSRF-protected form) confirms. An expired link gets a page
offering a new one (`POST /c/{token}/renew`). Handlers receive the verified token as `link`
(`security/links.py`) or never run; their database work is in `logic.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Template

from service.apikeys.guard import acting_key_id
from service.pages import page_language, render
from service.runtime import RT, Runtime
from service.security import links as signed
from service.security.gpc import gpc_signal
from service.security.links import Link
from service.security.origin import request_origin
from service.security.tokens import TokenData
from service.subscriptions.logic import confirm_chosen, load_target, renew
from service.subscriptions.schemas import SubscriptionIn, SubscriptionOut
from service.subscriptions.signup import subscribe

CONFIRM_WORDING = "confirm-page-1"  # the confirmation page's button text, recorded as proof


@post("/subscriptions", operation_id="createSubscription",
      opt={"scope": "contacts:write"}, status_code=202,
      tags=["subscriptions"])
async def create_subscription(request: Request, rt: RT,
                              data: JSONBody[SubscriptionIn]) -> SubscriptionOut:
    """Sign-up with double opt-in: records a `pending` consent per topic (with the wording
    version and, when given, the form's IP and user agent) and queues a confirmation email."""
    return await subscribe(rt, data, acting_key_id(request), datetime.now(UTC))


async def _target(request: Request, rt: Runtime, link: TokenData):
    """(target, None), or (None, the invalid-link page, 404) when the sign-up is gone."""
    topics = await rt.topics.all(rt.db)
    target = await load_target(rt.db, topics, link)
    if target is None:
        return None, signed.invalid_page(request, rt, status_code=404)
    return target, None


@get("/c/{token:str}", include_in_schema=False, dependencies=signed.CONFIRM)
async def confirm_page(request: Request, rt: RT, token: FromPath[str], link: Link) -> Template:
    target, page = await _target(request, rt, link)
    if page is not None:
        return page
    if not target.pending:
        return render(request, rt, "confirm/done.html", confirmed=[])
    return render(request, rt, "confirm/confirm.html", token=token, topics=target.pending,
                  gpc=gpc_signal(request))


@post("/c/{token:str}", status_code=200, include_in_schema=False, dependencies=signed.CONFIRM)
async def confirm_submit(request: Request, rt: RT, link: Link) -> Template:
    _, page = await _target(request, rt, link)
    if page is not None:
        return page
    form = await request.form()
    proof = request_origin(request).proof("double_opt_in", wording_version=CONFIRM_WORDING,
                                          campaign=link.campaign or None)
    topics = await rt.topics.all(rt.db)
    confirmed, gpc_off = await confirm_chosen(rt.db, topics, link,
                                              set(form.getall("topic", [])), proof,
                                              datetime.now(UTC), gpc=gpc_signal(request))
    return render(request, rt, "confirm/done.html", confirmed=confirmed, gpc_off=gpc_off)


@post("/c/{token:str}/renew", status_code=200, include_in_schema=False,
      dependencies=signed.RENEWABLE_CONFIRM)
async def confirm_renew(request: Request, rt: RT, link: Link) -> Template:
    """A new confirmation link for a genuine (possibly expired) one."""
    topics = await rt.topics.all(rt.db)
    target = await renew(rt, topics, link, page_language(request, rt), datetime.now(UTC))
    if target is None:
        return signed.invalid_page(request, rt, status_code=404)
    if not target.pending:
        return render(request, rt, "confirm/done.html", confirmed=[])
    return render(request, rt, "confirm/renewed.html")


api_routes = [create_subscription]
page_routes = [confirm_page, confirm_submit, confirm_renew]
