"""`GET /o` and `POST /o`: opt out with a code printed on a letter or a fax.

`GET /o` (optionally `?code=`, to prefill) only shows the form. `POST /o` is a plain form post
with no CSRF cookie, like the one-click POST: the code itself is the credential, and a person
typing it off paper may come from anywhere. A wrong code writes nothing and says so plainly;
attempts are limited per client IP (RATE_LIMIT_CODES_PER_MINUTE, on top of the pages' limit),
so 50-bit codes cannot be guessed by trying.

The page acts in the tenant of its host (tenants/resolve.py): a code another tenant issued is
an unknown code there, answered exactly as one nobody issued. A tenant with host names of its
own prints the first as its `opt_out_url` (codes.page_url).
"""

from __future__ import annotations

from litestar import Request, get, post
from litestar.exceptions import TooManyRequestsException
from litestar.params import FromQuery
from litestar.response import Template
from litestar.types import ASGIApp, Receive, Scope, Send

from service.codes import logic as codes
from service.pages import render
from service.runtime import RT
from service.security.origin import request_origin
from service.security.ratelimit import (
    CountingRateLimitMiddleware,
    ScopeRateLimitConfig,
    client_ip,
)
from service.tenants.resolve import request_runtime
from service.unsubscribe import logic as unsubscribe

FORM = "codes/form.html"


def _attempt_key(scope: Scope) -> str:
    return "code:" + client_ip(scope)


class AttemptLimit:
    """Route middleware of `POST /o`: at most RATE_LIMIT_CODES_PER_MINUTE attempts per client
    IP (0: off), counted by the pages' rate limiter and store (Redis when REDIS_URL is set, so
    every instance shares the count); beyond it a 429 with Retry-After. Built on the first
    request, when the app's settings are known."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.limited: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limited is None:
            per_minute = scope["litestar_app"].state.rt.settings.rate_limit_codes_per_minute
            self.limited = self.app if per_minute <= 0 else ScopeRateLimitConfig(
                rate_limit=("minute", per_minute), scope_identifier=_attempt_key,
                store="rate_limit_pages", middleware_class=CountingRateLimitMiddleware,
            ).middleware(self.app)
        await self.limited(scope, receive, send)


def too_many(request: Request, exc: TooManyRequestsException) -> Template:
    """The limit's answer as a page in the person's language, with the limiter's Retry-After."""
    rt = request_runtime(request.scope)
    page = render(request, rt, "codes/too_many.html", status_code=429)
    page.headers.update(exc.headers or {})
    return page


@get(codes.PAGE_PATH, include_in_schema=False)
async def code_page(request: Request, rt: RT, code: FromQuery[str | None] = None) -> Template:
    """The form, prefilled from `?code=`. Changes nothing, whoever fetches it."""
    return render(request, rt, FORM, code=(code or "")[:40])


@post(codes.PAGE_PATH, include_in_schema=False, exclude_from_csrf=True, status_code=200,
      middleware=[AttemptLimit], exception_handlers={TooManyRequestsException: too_many})
async def code_post(request: Request, rt: RT) -> Template:
    """Opt out with the typed code: exactly a one-click of the same recipient's link (ledger
    source `printed_code`, committed before the answer); a repeat is harmless."""
    form = await request.form()
    typed = str(form.get("code") or "")
    if not typed.strip():
        return render(request, rt, FORM, status_code=400, code="", problem="missing")
    data = await codes.find(rt.db, rt.settings.hash_key, typed)
    if data is None:
        shaped = codes.normalize(typed) is not None
        return render(request, rt, FORM, status_code=404 if shaped else 400, code=typed[:40],
                      problem="unknown" if shaped else "shape")
    proof = request_origin(request).proof("printed_code", campaign=data.campaign or None)
    await unsubscribe.unsubscribe(rt.db, data, proof)
    return render(request, rt, "codes/done.html", **await unsubscribe.what_stops(rt, data))


page_routes = [code_page, code_post]
