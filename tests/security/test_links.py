"""Signed links are checked once, before any recipient handler runs: a tampered, truncated,
re-signed or foreign token on any recipient route (GET, HEAD and POST) gets the one
invalid-link page, writes nothing, and is logged without the token."""

from __future__ import annotations

import logging

from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from litestar.routes import HTTPRoute

from service.security import links
from service.security.tokens import PLAIN_PURPOSES
from tests.security.conftest import counts
from tests.unsubscribe.helpers import GMAIL_HEADERS, ONE_CLICK_BODY

# (purpose of the route, method, path) for every recipient route that takes a token
ROUTES = [
    ("unsubscribe", "GET", "/u/{}"), ("unsubscribe", "HEAD", "/u/{}"),
    ("unsubscribe", "POST", "/u/{}"), ("unsubscribe", "POST", "/u/{}/undo"),
    ("unsubscribe", "POST", "/u/{}/fewer"),
    ("preferences", "GET", "/p/{}"), ("preferences", "POST", "/p/{}"),
    ("preferences", "GET", "/p/{}/data"), ("preferences", "POST", "/p/{}/data"),
    ("preferences", "GET", "/p/{}/receipts"), ("preferences", "GET", "/p/{}/receipts/1"),
    ("confirm", "GET", "/c/{}"), ("confirm", "POST", "/c/{}"),
    ("confirm", "POST", "/c/{}/renew"),
    ("privacy", "GET", "/privacy/{}"), ("privacy", "POST", "/privacy/{}"),
]
# the token each purpose's routes take, from the `people` fixture
OWN_TOKEN = {"unsubscribe": "unsubscribe", "preferences": "preferences", "confirm": "confirm",
             "privacy": "delete"}
PROVIDERS = {"/u/": links.unsubscribe_link, "/p/": links.preferences_link,
             "/c/": links.confirm_link, "/privacy/": links.privacy_link}


def flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]


def bad_tokens(purpose: str, tokens: dict[str, str]) -> dict[str, str]:
    """Every way a link of `purpose` can be wrong: damaged, forged, or another purpose's."""
    good = tokens[OWN_TOKEN[purpose]]
    serializer = URLSafeSerializer if purpose in PLAIN_PURPOSES else URLSafeTimedSerializer
    payload = ["someone", "email", "*", "", "delete" if purpose == "privacy" else "1"]
    found = {
        "truncated": good[:-5],
        "payload only": good.split(".")[0],
        "flipped in signature": flip(good, len(good) - 3),
        "flipped in payload": flip(good, 10),
        "re-signed with another key": serializer(
            "attacker-key-0123456789", salt=purpose).dumps(payload),
        "garbage": "not-a-token",
        "overlong": "A" * 5000 + "." + "B" * 27,
    }
    for name, token in tokens.items():
        if name != OWN_TOKEN[purpose] and not (purpose == "privacy" and name == "download"):
            found[f"foreign: a {name} link"] = token
    return found


async def test_every_bad_link_gets_the_one_page_and_writes_nothing(client, db, people, caplog):
    ann, _ = people
    await client.get("/p")  # a CSRF cookie, so form posts reach the link check
    csrf = client.cookies.get("csrftoken")
    form = {"_csrf_token": csrf, "action": "delete", "topic": "newsletter", "email": ann.email,
            "List-Unsubscribe": "One-Click"}
    before = await counts(db)
    pages, tried = set(), 0
    for purpose, method, template in ROUTES:
        for name, token in bad_tokens(purpose, ann.tokens).items():
            where = (name, method, template)
            kwargs = {}
            if template == "/u/{}" and method == "POST":
                kwargs = {"content": ONE_CLICK_BODY, "headers": GMAIL_HEADERS}
            elif method == "POST":
                kwargs = {"data": form}
            caplog.clear()
            with caplog.at_level(logging.INFO):
                response = await client.request(method, template.format(token), **kwargs)
            assert response.status_code == 400, (*where, response.status_code)
            assert response.headers["content-type"].startswith("text/html"), where
            assert response.headers["cache-control"] == "no-store", where
            if method != "HEAD":
                pages.add(response.text)
            lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
            assert any(f"invalid {purpose} token" in line for line in lines), (where, lines)
            assert not any(token[:20] in line for line in lines), where
            tried += 1
    assert tried > 100
    assert len(pages) == 1, "one invalid-link page for every route and every bad link"
    page = pages.pop()
    assert "This link does not work" in page and 'href="/p"' in page
    assert ann.email not in page and ann.contact_id not in page
    assert await counts(db) == before


async def test_the_invalid_link_page_speaks_the_visitors_language(client, db, people):
    for path in ("/u/not-a-token", "/p/not-a-token", "/c/not-a-token", "/privacy/not-a-token"):
        german = await client.get(path, headers={"Accept-Language": "de-DE,de;q=0.9"})
        assert german.status_code == 400
        assert "Dieser Link funktioniert nicht" in german.text, path


def test_every_recipient_route_verifies_its_link_before_the_handler(app):
    """A handler under a token path cannot skip the check: each declares its purpose's `link`
    dependency (the app refuses to start when a declared dependency has no provider)."""
    checked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "{token:str}" not in route.path:
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"}:
                continue  # Litestar's own: answers Allow, reads nothing
            provider = handler.resolve_dependencies()["link"].dependency
            prefix = "/" + route.path.split("/")[1] + "/"
            expected = PROVIDERS[prefix]
            if route.path.endswith("/renew"):
                expected = links.renewable_confirm_link
            assert provider is expected, (route.path, handler.http_methods, provider)
            assert "link" in handler.parsed_fn_signature.parameters, route.path
            checked += 1
    assert checked == 16
