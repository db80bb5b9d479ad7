"""Recipients' signed links, verified once: one Litestar dependency per purpose, one page.

A recipient page handler declares `link: Link` and a purpose's dependencies
(`dependencies=UNSUBSCRIBE`); it then receives a verified `TokenData`, or the request never
reaches it: the dependency raises `InvalidLink`, which `invalid_link_page` (registered once on
the app, `EXCEPTION_HANDLERS`) answers with the one invalid-link page, 400, in the visitor's
language, and a log line that names the purpose, the route and the token's length, never the
token. A genuine but expired confirmation link raises `ExpiredLink` instead: its page offers a
new one.

Cost on the benchmarked one-click POST: one synchronous call resolved by Litestar's dependency
machinery (the path parameter it already parsed, the runtime it caches); no body parsing and
no database round trip (whether the contact still exists is the handler's business, answered
the same either way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from litestar import MediaType, Request, Response
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, SkipValidation
from litestar.response import Template

from service.contacts.normalize import CHANNELS
from service.pages import render
from service.runtime import RT, Runtime
from service.security.tokens import (
    LONG_AGO_SECONDS,
    PRIVACY_ACTIONS,
    BadToken,
    TokenData,
    TokenSigner,
)
from service.tenants.resolve import request_runtime

log = logging.getLogger("service.links")
INVALID_PAGE = "links/invalid.html"
EXPIRED_PAGE = "confirm/expired.html"

# What a handler declares to receive the verified data (the dependency built it: no re-check).
Link = NamedDependency[SkipValidation[TokenData]]


class InvalidLink(Exception):
    """A recipient link that is not a valid link of its purpose. Never carries the token."""

    def __init__(self, purpose: str, length: int) -> None:
        super().__init__(purpose)
        self.purpose = purpose
        self.length = length


class ExpiredLink(InvalidLink):
    """A genuine confirmation link past its age: the person may ask for a new one."""


def _unsubscribe_shape(data: TokenData) -> bool:
    """Only we sign, but an unsubscribe writes with these fields: refuse any that are unusable."""
    return data.channel in CHANNELS and bool(data.contact_id) and bool(data.topic)


def _privacy_shape(data: TokenData) -> bool:
    return data.extra in PRIVACY_ACTIONS


_SHAPES: dict[str, Callable[[TokenData], bool]] = {
    "unsubscribe": _unsubscribe_shape, "privacy": _privacy_shape}


def verify(signer: TokenSigner, purpose: str, token: str, max_age: int | None = None
           ) -> TokenData:
    """The token's data when it is a valid, usable link of `purpose`; BadToken otherwise (bad
    signature, unknown key, truncated, another purpose, expired, garbage, unusable fields)."""
    data = signer.verify(purpose, token, max_age)
    shape = _SHAPES.get(purpose)
    if shape is not None and not shape(data):
        raise BadToken(purpose)
    return data


def read_link(signer: TokenSigner, purpose: str, token: str) -> TokenData | None:
    """`verify` for callers outside HTTP (mailto): the data, or None; logs nothing."""
    try:
        return verify(signer, purpose, token)
    except BadToken:
        return None


def _checked(rt: Runtime, purpose: str, token: str, max_age: int | None = None) -> TokenData:
    try:
        return verify(rt.signer, purpose, token, max_age)
    except BadToken:
        raise InvalidLink(purpose, len(token)) from None


def unsubscribe_link(rt: RT, token: FromPath[str]) -> TokenData:
    return _checked(rt, "unsubscribe", token)


def preferences_link(rt: RT, token: FromPath[str]) -> TokenData:
    return _checked(rt, "preferences", token)


def privacy_link(rt: RT, token: FromPath[str]) -> TokenData:
    """Download / delete my data: short-lived (PRIVACY_LINK_MAX_AGE_SECONDS)."""
    return _checked(rt, "privacy", token, rt.settings.privacy_link_max_age_seconds)


def confirm_link(rt: RT, token: FromPath[str]) -> TokenData:
    """A fresh double opt-in confirmation; a genuine old one raises ExpiredLink."""
    try:
        return verify(rt.signer, "confirm", token)
    except BadToken:
        pass
    renewable_confirm_link(rt, token)  # InvalidLink when it is not even genuine
    raise ExpiredLink("confirm", len(token))


def renewable_confirm_link(rt: RT, token: FromPath[str]) -> TokenData:
    """A genuine confirmation link of any age: enough to send a new one."""
    return _checked(rt, "confirm", token, LONG_AGO_SECONDS)


def _provide(dependency: Callable[..., TokenData]) -> dict[str, Provide]:
    return {"link": Provide(dependency, sync_to_thread=False)}


UNSUBSCRIBE = _provide(unsubscribe_link)
PREFERENCES = _provide(preferences_link)
PRIVACY = _provide(privacy_link)
CONFIRM = _provide(confirm_link)
RENEWABLE_CONFIRM = _provide(renewable_confirm_link)


def invalid_page(request: Request, rt: Runtime, status_code: int = 400) -> Template:
    """The one invalid-link page (also for a valid link whose sign-up no longer exists)."""
    return render(request, rt, INVALID_PAGE, status_code=status_code)


def invalid_link_page(request: Request, exc: InvalidLink) -> Response:
    """The answer to every refused recipient link: the page (HEAD: its status alone)."""
    route = next(iter(request.route_handler.paths), "?")
    log.warning("rejected an invalid %s token (%d characters) on %s %s%s", exc.purpose,
                exc.length, request.method, route, " (expired)" if isinstance(
                    exc, ExpiredLink) else "")
    rt: Runtime = request_runtime(request.scope)
    if isinstance(exc, ExpiredLink):
        return render(request, rt, EXPIRED_PAGE, status_code=410,
                      token=request.path_params["token"])
    if request.method == "HEAD":
        return Response(None, status_code=400, media_type=MediaType.HTML)
    return invalid_page(request, rt)


EXCEPTION_HANDLERS = {InvalidLink: invalid_link_page}
