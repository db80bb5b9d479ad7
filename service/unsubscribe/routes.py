"""HTTP handlers of the unsubscribe capability: `POST /v1/links` and the `/u/{token}` pages.

`GET`/`HEAD /u/{token}` only read (mail scanners fetch every link). `POST /u/{token}` is the
RFC 8058 one-click endpoint and the page's button: no cookie, no CSRF token, no auth. The undo
(`POST /u/{token}/undo`) is an ordinary CSRF-protected form. Every `/u` handler receives the
verified token as `link` (`security/links.py`) or never runs (the one invalid-link page).
"""

from __future__ import annotations

import hmac

from litestar import MediaType, Request, Response, get, head, post
from litestar.datastructures import Cookie
from litestar.middleware.csrf import generate_csrf_hash, generate_csrf_token
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Stream, Template

from service.consent.ledger import Proof
from service.errors import InputError, error_body
from service.i18n import translator
from service.pages import page_language, render
from service.runtime import RT
from service.security import links as signed
from service.security.gpc import gpc_signal
from service.security.headers import PAGE as PAGE_HEADERS
from service.security.links import Link
from service.security.origin import request_origin
from service.security.tokens import ALL_TOPICS, TokenData
from service.unsubscribe import links, logic
from service.unsubscribe.schemas import LinksRequest, LinksResponse

TOKEN_PATH = "/u/{token:str}"  # noqa: S105  (a path, not a secret)


@post(
    "/links", operation_id="createLinks",
    opt={"scope": "links:write"}, tags=["links"], status_code=200,
    responses={200: ResponseSpec(data_container=LinksResponse, description="One link per "
                                 "recipient, in request order (streamed).",
                                 generate_examples=False)},
)
async def create_links(rt: RT, data: JSONBody[LinksRequest]) -> Response:
    """List-Unsubscribe headers and footer links for one message or a whole campaign.

    Addresses not yet known become contacts, so every link works. Any bad recipient fails the
    whole request (422, every bad index listed) and nothing is created. Post and fax recipients
    also get a printed opt-out code (`opt_out_code`, `opt_out_url`; fax a ready `notice`).
    """
    limit = rt.settings.bulk_max_items
    if len(data.recipients) > limit:
        raise InputError("recipients", f"at most {limit} recipients per request, got "
                         f"{len(data.recipients)}; split the request", status=413)
    resolver = links.ContactResolver(rt.db)
    items, errors = await links.check_recipients(rt, data.recipients, resolver)
    if errors:
        await resolver.discard()
        return Response(
            error_body(f"{len(errors)} invalid recipient field(s); nothing was created",
                       errors), status_code=422, media_type=MediaType.JSON)
    contacts = await resolver.finish()
    await links.add_codes(rt, items, contacts)  # post and fax recipients: printed codes
    return Stream(links.render_links(rt, items, contacts), media_type=MediaType.JSON)


def _proof(request: Request, source: str, link: TokenData, wording: str | None = None) -> Proof:
    """The ledger proof of a change through this link: the client, the link's campaign."""
    return request_origin(request).proof(source, campaign=link.campaign or None,
                                         wording_version=wording)


@get(TOKEN_PATH, include_in_schema=False, dependencies=signed.UNSUBSCRIBE)
async def unsubscribe_page(request: Request, rt: RT, token: FromPath[str], link: Link
                           ) -> Template:
    """Says what will stop, with one button. Changes nothing, whoever fetches it (a GPC
    signal is only announced: the button's POST honours it)."""
    return render(request, rt, "unsubscribe/confirm.html", token=token, gpc=gpc_signal(request),
                  **await logic.what_stops(rt, link))


@head(TOKEN_PATH, include_in_schema=False, dependencies=signed.UNSUBSCRIBE)
async def unsubscribe_page_head(link: Link) -> Response[None]:
    """200 for a valid link (an invalid one never gets here: 400), no body."""
    return Response(None, status_code=200, media_type=MediaType.HTML)


def _csrf_for_undo(request: Request, response: Template) -> str:
    """The CSRF value for the undo form: the visitor's cookie (set by the GET page), or a new
    one set on this answer (this handler is exempt from the CSRF middleware)."""
    config = request.app.csrf_config
    cookie = request.cookies.get(config.cookie_name, "")
    if len(cookie) == 128 and hmac.compare_digest(
        cookie[64:], generate_csrf_hash(cookie[:64], config.secret)
    ):
        return cookie
    token = generate_csrf_token(config.secret)
    response.set_cookie(Cookie(
        key=config.cookie_name, value=token, path=config.cookie_path,
        secure=config.cookie_secure, httponly=config.cookie_httponly,
        samesite=config.cookie_samesite, domain=config.cookie_domain,
    ))
    return token


@post(TOKEN_PATH, include_in_schema=False, exclude_from_csrf=True, status_code=200,
      exclude_from_page_rate_limit=True, dependencies=signed.UNSUBSCRIBE)
async def unsubscribe_post(request: Request, rt: RT, token: FromPath[str], link: Link
                           ) -> Template | Response:
    """RFC 8058 one-click (`List-Unsubscribe=One-Click`) and the page's button.

    200 with no redirect, committed before the answer; the same answer whether or not the
    contact still exists. A one-click gets a line of text, the button the confirmation page.
    """
    form = await request.form()
    one_click = form.get("List-Unsubscribe") == "One-Click"
    from_page = form.get("source") == "page" and not one_click
    source = "unsubscribe_page" if from_page else "one_click"
    gpc_off = []
    if from_page:  # a browser's form: its GPC signal counts (a mail client's one-click: not)
        gpc_topics = await rt.topics.all(rt.db) if gpc_signal(request) else None
        gpc_off = await logic.unsubscribe_page(rt.db, link, _proof(request, source, link),
                                               gpc_topics=gpc_topics)
    else:
        await logic.unsubscribe(rt.db, link, _proof(request, source, link))
    if one_click:
        # A mailbox provider's RFC 8058 POST: nobody reads the answer, so it gets one line,
        # not the page (which cost more than the unsubscribe itself).
        lang = page_language(request, rt)
        return Response(translator(lang)("You are unsubscribed") + ".\n",
                        media_type=MediaType.TEXT, headers=PAGE_HEADERS)
    preferences = rt.signer.sign(
        "preferences", TokenData(link.contact_id, link.channel, ALL_TOPICS, link.campaign))
    response = render(request, rt, "unsubscribe/done.html", token=token,
                      preferences_token=preferences, show_undo=from_page, gpc_off=gpc_off,
                      **await logic.what_stops(rt, link))
    if from_page:
        response.context["undo_csrf"] = _csrf_for_undo(request, response)
    return response


@post(TOKEN_PATH + "/undo", include_in_schema=False, status_code=200,
      dependencies=signed.UNSUBSCRIBE)
async def undo_post(request: Request, rt: RT, link: Link) -> Template:
    """The confirmation page's "undo" (CSRF-protected): lifts the unsubscribe again."""
    proof = _proof(request, "unsubscribe_page", link, logic.UNDO_WORDING)
    await logic.undo(rt.db, link, proof)
    preferences = rt.signer.sign(
        "preferences", TokenData(link.contact_id, link.channel, ALL_TOPICS, link.campaign))
    return render(request, rt, "unsubscribe/undone.html", preferences_token=preferences,
                  **await logic.what_stops(rt, link))


@post(TOKEN_PATH + "/fewer", include_in_schema=False, status_code=200,
      dependencies=signed.UNSUBSCRIBE)
async def fewer_post(request: Request, rt: RT, link: Link) -> Template:
    """The page's "fewer instead" (CSRF-protected): a frequency for the link's topic instead
    of unsubscribing. A frequency the topic does not offer is a 400 page, written nothing."""
    form = await request.form()
    frequency = str(form.get("frequency", ""))
    stops = await logic.what_stops(rt, link)
    if frequency not in stops["fewer"]:
        return render(request, rt, "unsubscribe/confirm.html", status_code=400,
                      token=request.path_params["token"], **stops)
    await logic.fewer(rt.db, link, frequency, _proof(request, "unsubscribe_page", link,
                                                     logic.FEWER_WORDING))
    preferences = rt.signer.sign(
        "preferences", TokenData(link.contact_id, link.channel, ALL_TOPICS, link.campaign))
    return render(request, rt, "unsubscribe/fewer.html", preferences_token=preferences,
                  frequency=frequency, **stops)


api_routes = [create_links]  # mounted under /v1, behind the API-key guard
page_routes = [unsubscribe_page, unsubscribe_page_head, unsubscribe_post, undo_post,
               fewer_post]
