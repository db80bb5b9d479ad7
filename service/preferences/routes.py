"""The preference centre (`/p/{token}`) and "email me a link" (`/p`): recipient pages.

GETs only read. POSTs are CSRF-protected by the app's CSRFConfig (a POST without the form's
`_csrf_token` and the `csrftoken` cookie is refused with 403 before it reaches us). `/p/{token}`
handlers receive the verified token as `link` (`security/links.py`) or never run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel.dates import format_date
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from service.contacts.normalize import AddressError
from service.pages import page_language, render
from service.preferences.brands import offered, stop_all_brands
from service.preferences.links import CLIENT_STORE, client_allowed, request_link
from service.preferences.save import CAP_CHOICES, WORDING_VERSION, save_form
from service.preferences.view import load_centre
from service.runtime import RT, Runtime
from service.security import links as signed
from service.security.gpc import gpc_signal
from service.security.links import Link
from service.security.origin import request_origin
from service.security.tokens import TokenData

MAX_ADDRESS_INPUT = 320


def fmt_date(value: datetime, lang: str) -> str:
    return format_date(value, format="long", locale=lang)


async def _page(request: Request, rt: Runtime, token: str, data: TokenData, **extra):
    topics = await rt.topics.all(rt.db)
    centre = await load_centre(rt.db, topics, data.contact_id, datetime.now(UTC))
    if centre is None:
        return render(request, rt, "preferences/gone.html", status_code=404)
    return render(request, rt, "preferences/centre.html", centre=centre, token=token,
                  fmt_date=fmt_date, gpc=gpc_signal(request), cap_choices=CAP_CHOICES,
                  group=offered(rt), **extra)


@get("/p/{token:str}", include_in_schema=False, dependencies=signed.PREFERENCES)
async def centre_page(request: Request, rt: RT, token: FromPath[str], link: Link) -> Template:
    """The person's channels and topics, with the current state of every switch."""
    return await _page(request, rt, token, link)


@post("/p/{token:str}", status_code=200, include_in_schema=False,
      dependencies=signed.PREFERENCES)
async def centre_save(request: Request, rt: RT, token: FromPath[str], link: Link) -> Template:
    """Save the choices (or unsubscribe from all, object to all marketing, or stop every brand
    of the controller) and show what changed. A browser's GPC signal opts out of
    sale_or_sharing topics in the same write (not with "stop every brand": it stops all
    marketing anyway)."""
    form = await request.form()
    now = datetime.now(UTC)
    proof = request_origin(request).proof("preference_centre", wording_version=WORDING_VERSION,
                                          campaign=link.campaign or None)
    topics = await rt.topics.all(rt.db)
    action = form.get("action")
    if action == "stop_all_brands":  # this tenant and every other brand of its controller
        changes = await stop_all_brands(rt, topics, link.contact_id, proof=proof, now=now)
        return await _page(request, rt, token, link, saved=changes is not None,
                           changes=changes)
    changes = await save_form(
        rt.db, topics, link.contact_id, unsubscribe=action == "unsubscribe_all",
        objection=action == "object", checked=set(form.keys()),
        shown=set(form.getall("shown", [])), pause_choice=str(form.get("pause", "")),
        proof=proof, now=now, gpc=gpc_signal(request),
        paces={k: str(form.get(k)) for k in form if k.startswith(("freq.", "cap."))})
    return await _page(request, rt, token, link, saved=changes is not None, changes=changes)


@get("/p", include_in_schema=False)
async def link_form(request: Request, rt: RT) -> Template:
    return render(request, rt, "preferences/request_link.html")


@post("/p", status_code=200, include_in_schema=False)
async def link_request(request: Request, rt: RT) -> Template:
    """Send a link if we know the address; the answer is the same either way."""
    now = datetime.now(UTC)
    store = request.app.stores.get(CLIENT_STORE)
    allowed, retry_after = await client_allowed(store, request_origin(request).ip or "unknown", now)
    if not allowed:
        page = render(request, rt, "preferences/too_many.html", status_code=429)
        page.headers["Retry-After"] = str(retry_after)
        return page
    form = await request.form()
    raw = str(form.get("email", "")).strip()
    if not raw or len(raw) > MAX_ADDRESS_INPUT:
        return render(request, rt, "preferences/request_link.html", status_code=400,
                      error="missing" if not raw else "invalid", email=raw[:MAX_ADDRESS_INPUT])
    try:
        await request_link(rt, raw, page_language(request, rt), now)
    except AddressError:
        return render(request, rt, "preferences/request_link.html", status_code=400,
                      error="invalid", email=raw)
    return render(request, rt, "preferences/link_sent.html")


page_routes = [centre_page, centre_save, link_form, link_request]
api_routes: list = []
