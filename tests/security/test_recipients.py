"""Recipient pages under attack: a token for one person never reads or changes another, a
token whose contact id was swapped fails its signature, the pages answer the same for known
and unknown people, nothing redirects anywhere, every HTML page carries the security headers,
and rate limits answer 429 with Retry-After."""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.security.tokens import TokenData
from tests.conftest import make_settings
from tests.security.conftest import counts, csrf_form, page_urls, state_of, tokens_for
from tests.unsubscribe.helpers import GMAIL_HEADERS, ONE_CLICK_BODY


def leaks(text: str, person) -> list[str]:
    """What of `person` appears in a response body."""
    found = [s for s in (person.email, person.email.split("@")[0] + "@", person.contact_id,
                         person.key) if s.lower() in text.lower()]
    return found


async def test_reading_with_one_persons_links_never_shows_another(client, db, people):
    ann, bob = people
    for url in page_urls(ann.tokens):
        for method in ("GET", "HEAD"):
            response = await client.request(method, url)
            assert response.status_code in (200, 405), (method, url, response.status_code)
            assert not leaks(response.text, bob), (url, leaks(response.text, bob))
    download = await csrf_form(client, f"/privacy/{ann.tokens['download']}",
                               f"/privacy/{ann.tokens['download']}", {})
    assert download.status_code == 200
    export = download.json()
    assert ann.email in json.dumps(export)  # the control: Ann's own data is there
    assert not leaks(download.text, bob)


@pytest.mark.parametrize("action", ["one-click", "page button", "centre", "confirm",
                                    "undo", "delete"])
async def test_acting_with_one_persons_links_changes_only_that_person(client, db, people, action):
    ann, bob = people
    bob_before, ann_before = await state_of(db, bob), await state_of(db, ann)
    u, p = ann.tokens["unsubscribe"], ann.tokens["preferences"]
    if action == "one-click":
        response = await client.post(f"/u/{u}", content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    elif action == "page button":
        response = await client.post(f"/u/{u}", data={"source": "page"})
    elif action == "centre":
        response = await csrf_form(client, f"/p/{p}", f"/p/{p}", {"action": "unsubscribe_all"})
    elif action == "confirm":
        c = ann.tokens["confirm"]
        response = await csrf_form(client, f"/c/{c}", f"/c/{c}", {"topic": "newsletter"})
    elif action == "undo":
        await client.post(f"/u/{u}", data={"source": "page"})
        ann_before = await state_of(db, ann)
        response = await csrf_form(client, f"/u/{u}", f"/u/{u}/undo", {})
    else:
        d = ann.tokens["delete"]
        response = await csrf_form(client, f"/privacy/{d}", f"/privacy/{d}", {})
    assert response.status_code == 200, response.text
    assert not leaks(response.text, bob)
    assert await state_of(db, ann) != ann_before, "the control: Ann's own link worked"
    assert await state_of(db, bob) == bob_before


def spliced(mine: str, theirs: str) -> str:
    """Their payload (contact id) with my signature (and timestamp)."""
    return theirs.split(".", 1)[0] + "." + mine.split(".", 1)[1]


async def test_a_swapped_contact_id_fails_the_signature_everywhere(client, db, people, rt):
    ann, bob = people
    forged = {name: spliced(ann.tokens[name], bob.tokens[name]) for name in ann.tokens}
    # Bob's id put into Ann's payload, re-encoded, Ann's signature kept
    for name, token in ann.tokens.items():
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==").decode())
        payload[0] = bob.contact_id
        body = base64.urlsafe_b64encode(
            json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
        forged[name + " re-encoded"] = body + "." + token.split(".", 1)[1]
    before = await counts(db)
    targets = {
        "unsubscribe": [("GET", "/u/{}"), ("HEAD", "/u/{}"), ("POST", "/u/{}"),
                        ("POST", "/u/{}/undo")],
        "preferences": [("GET", "/p/{}"), ("POST", "/p/{}"), ("GET", "/p/{}/data"),
                        ("POST", "/p/{}/data")],
        "confirm": [("GET", "/c/{}"), ("POST", "/c/{}"), ("POST", "/c/{}/renew")],
        "download": [("GET", "/privacy/{}"), ("POST", "/privacy/{}")],
        "delete": [("GET", "/privacy/{}"), ("POST", "/privacy/{}")],
    }
    await client.get("/p")  # a CSRF cookie, so POSTs reach the token check
    csrf = client.cookies.get("csrftoken")
    for name, token in forged.items():
        for method, template in targets[name.split()[0]]:
            kwargs = {} if method in ("GET", "HEAD") else {
                "data": {"_csrf_token": csrf, "action": "delete", "topic": "newsletter",
                         "List-Unsubscribe": "One-Click"}}
            response = await client.request(method, template.format(token), **kwargs)
            assert response.status_code == 400, (name, method, template, response.status_code)
            assert not leaks(response.text, bob) and not leaks(response.text, ann)
    assert await counts(db) == before


def without_csrf(text: str) -> str:
    return re.sub(r'name="_csrf_token" value="[^"]*"', 'name="_csrf_token" value=""', text)


def comparable(response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k not in ("date", "set-cookie")}
    return response.status_code, headers, without_csrf(response.text)


async def link_request(client, address: str):
    """A first visit of /p and the form posted, by a fresh visitor (no cookies)."""
    client.cookies.clear()
    page = await client.get("/p")
    answer = await csrf_form(client, "/p", "/p", {"email": address})
    return page, answer


async def test_link_request_answers_the_same_for_known_unknown_and_erased(client, db, people):
    ann, bob = people
    erase = await csrf_form(client, f"/privacy/{bob.tokens['delete']}",
                            f"/privacy/{bob.tokens['delete']}", {})
    assert erase.status_code == 200
    answers = {name: await link_request(client, address) for name, address in (
        ("known", "ann@example.com"), ("known, other spelling", " ANN@Example.com "),
        ("unknown", "nobody@example.com"), ("erased", "bob@example.com"),
        ("unknown, other domain", "carol@other.example"))}
    pages = {name: comparable(page) for name, (page, _) in answers.items()}
    posts = {name: comparable(answer) for name, (_, answer) in answers.items()}
    assert len(set(map(repr, pages.values()))) == 1
    assert len(set(map(repr, posts.values()))) == 1, {k: v[:2] for k, v in posts.items()}
    assert posts["known"][0] == 200


async def test_one_click_answers_the_same_for_known_and_unknown_contacts(client, db, people,
                                                                         rt):
    ann, _ = people
    unknown = tokens_for(rt, uuid.uuid4().hex, 999)["unsubscribe"]
    answers = []
    for token in (ann.tokens["unsubscribe"], unknown):
        response = await client.post(f"/u/{token}", content=ONE_CLICK_BODY,
                                     headers=GMAIL_HEADERS)
        # the answer carries a preferences link for the token's own id: compare without it
        text = re.sub(r"/p/[A-Za-z0-9_.-]+", "/p/<token>", response.text)
        text = text.replace(token, "<token>")
        answers.append((response.status_code, text, {k: v for k, v in response.headers.items()
                                                     if k not in ("date", "content-length")}))
    assert answers[0] == answers[1]


EVIL = ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
        "https:evil.example"]
REDIRECT_PARAMS = ["next", "redirect", "redirect_uri", "redirect_url", "return", "return_to",
                   "returnTo", "url", "continue", "goto", "dest", "destination", "target",
                   "callback", "r", "u"]


def all_get_paths(app, tokens: dict[str, str]) -> list[str]:
    """Every GET route of the app, with real tokens in recipient paths."""
    by_prefix = {"/u/": tokens["unsubscribe"], "/p/": tokens["preferences"],
                 "/c/": tokens["confirm"], "/privacy/": tokens["download"]}
    paths = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "GET" not in route.methods:
            continue
        path = route.path
        for prefix, token in by_prefix.items():
            if path.startswith(prefix):
                path = re.sub(r"\{token:str\}", token, path)
        path = re.sub(r"\{[^}]+:int\}", "1", path)
        path = re.sub(r"\{[^}]+\}", "x", path)
        paths.append(path)
    return sorted(set(paths))


async def test_no_redirect_anywhere_and_no_url_taken_from_input(app, client, db, people,
                                                                admin_headers):
    ann, _ = people
    query = "&".join(f"{name}={value}" for name in REDIRECT_PARAMS for value in EVIL[:2])
    paths = all_get_paths(app, ann.tokens)
    assert len(paths) >= 15 and f"/u/{ann.tokens['unsubscribe']}" in paths
    for path in paths:
        for headers in ({}, admin_headers):
            response = await client.get(f"{path}?{query}", headers=headers,
                                        follow_redirects=False)
            assert not 300 <= response.status_code < 400, (path, response.status_code)
            assert "location" not in response.headers, path
            assert "evil.example" not in response.text, path
    # the answers of every form post: no redirect either (RFC 8058: 200, not 3xx)
    u, p = ann.tokens["unsubscribe"], ann.tokens["preferences"]
    posts = [
        await client.post(f"/u/{u}?next={EVIL[0]}", content=ONE_CLICK_BODY,
                          headers=GMAIL_HEADERS, follow_redirects=False),
        await csrf_form(client, f"/p/{p}", f"/p/{p}?redirect={EVIL[1]}",
                        {"action": "save", "next": EVIL[0]}),
        await csrf_form(client, "/p", f"/p?next={EVIL[0]}",
                        {"email": "ann@example.com", "redirect": EVIL[0]}),
        await csrf_form(client, f"/u/{u}", f"/u/{u}/undo?next={EVIL[0]}", {}),
    ]
    for response in posts:
        assert response.status_code == 200 and "location" not in response.headers
        assert "evil.example" not in response.text


CSP_REQUIRED = ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
                "form-action 'self'"]


def assert_page_headers(response, where: str) -> None:
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    for part in CSP_REQUIRED:
        assert part in csp, (where, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "script-src" not in csp or "script-src 'none'" in csp, where  # default 'none' applies
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("cache-control") == "no-store", where
    assert headers.get("x-frame-options") == "DENY", where
    html = response.text.lower()
    assert "<script" not in html and " style=" not in html and "<style" not in html, where
    assert not re.search(r"\son[a-z]+\s*=", html), where  # no inline event handlers


async def test_security_headers_on_every_html_page(app, client, db, people, rt):
    ann, bob = people
    bad = "not-a-token"
    expired_confirm = rt.signer._timed["confirm"].dumps(  # a genuine but expired link
        [ann.contact_id, "email", "*", "", str(ann.address_id)])
    gone = tokens_for(rt, uuid.uuid4().hex, 999)
    urls = [*page_urls(ann.tokens), *[u.replace(ann.tokens["preferences"], bad)
                                      .replace(ann.tokens["unsubscribe"], bad)
                                      .replace(ann.tokens["confirm"], bad)
                                      .replace(ann.tokens["download"], bad)
                                      .replace(ann.tokens["delete"], bad)
                                      for u in page_urls(ann.tokens)],
            *page_urls(gone), f"/c/{expired_confirm}"]
    seen = 0
    for url in urls:
        response = await client.get(url)
        if response.headers.get("content-type", "").startswith("text/html"):
            assert_page_headers(response, f"GET {url} -> {response.status_code}")
            seen += 1
    u, p = ann.tokens["unsubscribe"], ann.tokens["preferences"]
    # RFC 8058 one-clicks are answered with a line of text (a mailbox provider posts them),
    # with the same strict headers; an invalid link still gets the page.
    one_click = await client.post(f"/u/{u}", content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    assert one_click.headers["content-type"].startswith("text/plain"), one_click.text
    assert_page_headers(one_click, "POST one-click")
    for response in [
        await client.post(f"/u/{bad}", content=ONE_CLICK_BODY, headers=GMAIL_HEADERS),
        await client.post(f"/u/{u}", data={"source": "page"}),
        await csrf_form(client, f"/p/{p}", f"/p/{p}", {"action": "unsubscribe_all"}),
        await csrf_form(client, "/p", "/p", {"email": "ann@example.com"}),
        await csrf_form(client, "/p", "/p", {"email": "not an address"}),
        await csrf_form(client, f"/p/{p}", f"/p/{p}/data", {"action": "download"}),
        await csrf_form(client, f"/c/{ann.tokens['confirm']}", f"/c/{ann.tokens['confirm']}",
                        {"topic": "newsletter"}),
        await csrf_form(client, f"/c/{expired_confirm}", f"/c/{expired_confirm}/renew", {}),
        await csrf_form(client, f"/privacy/{bob.tokens['delete']}",
                        f"/privacy/{bob.tokens['delete']}", {}),
    ]:
        assert response.headers["content-type"].startswith("text/html"), response.request.url
        assert_page_headers(response, f"POST {response.request.url} -> {response.status_code}")
        seen += 1
    assert seen >= 30


async def test_rate_limits_answer_429_with_retry_after(database_url, tmp_path, db, make_key):
    app = create_app(make_settings(database_url, tmp_path, rate_limit_pages_per_minute=5,
                                   rate_limit_api_per_minute=5))
    one, two = await make_key("suppressions:read"), await make_key("suppressions:read")
    check = "/v1/suppressions/check?channel=email&address=ann@example.com"
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        pages = [await client.get("/p") for _ in range(6)]
        assert [r.status_code for r in pages] == [200] * 5 + [429]
        assert 1 <= int(pages[-1].headers["retry-after"]) <= 60
        other_page = await client.get("/u/not-a-token")  # the limit is per client, all pages
        assert other_page.status_code == 429
        api = [await client.get(check, headers=one) for _ in range(6)]
        assert [r.status_code for r in api] == [200] * 5 + [429]
        assert 1 <= int(api[-1].headers["retry-after"]) <= 60
        assert api[-1].json()["detail"]
        assert (await client.get(check, headers=two)).status_code == 200  # per key
        no_key = [await client.get(check) for _ in range(6)]  # anonymous: per address, 401s
        assert [r.status_code for r in no_key] == [401] * 5 + [429]
        # RFC 8058 one-click POSTs from a mailbox provider are never limited like pages
        token = app.state.rt.signer.sign("unsubscribe", TokenData(uuid.uuid4().hex, "email",
                                                                  "*"))
        for _ in range(8):
            response = await client.post(f"/u/{token}", content=ONE_CLICK_BODY,
                                         headers=GMAIL_HEADERS)
            assert response.status_code == 200
