"""Strict security headers on every response; pages also get CSP and no caching.

Headers are appended as pre-encoded pairs (Litestar's MutableScopeHeaders scans the header list
for every assignment, which showed up in the check's profile).
"""

from __future__ import annotations

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# No inline script, no third-party assets, no framing, forms post only to us.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE = {
    "Content-Security-Policy": PAGE_CSP,
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Permissions-Policy": "interest-cohort=(), camera=(), microphone=(), geolocation=()",
}


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


_COMMON_RAW = _raw(COMMON)
_PAGE_RAW = _raw(PAGE)
_PAGE_NAMES = {name for name, _ in _PAGE_RAW}
_API_RAW = _raw({"Cache-Control": "no-store"})


class SecurityHeadersMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path = scope["path"]
        is_schema = path.startswith("/schema")
        is_api = path.startswith("/v1/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                html = False
                for name, value in headers:
                    if name == b"content-type":
                        html = value.startswith(b"text/html")
                        break
                headers.extend(_COMMON_RAW)
                if html and not is_schema:
                    headers = [h for h in headers if h[0] not in _PAGE_NAMES] + _PAGE_RAW
                elif is_api:
                    headers = [h for h in headers if h[0] != b"cache-control"] + _API_RAW
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_headers)
