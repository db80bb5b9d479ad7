"""Oversized bodies and bulk requests over the limit are refused (413/422) before any work,
with nothing written; malformed CSV imports are reported row by row and the good rows still
go in (the real `python -m service import` command)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tracemalloc

import httpx
import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from tests.conftest import ROOT, make_settings
from tests.preferences.browser import served
from tests.security.conftest import counts

MAX_BODY, MAX_ITEMS = 4096, 5


@pytest.fixture
async def small(database_url, tmp_path, db, make_key):
    """The app with a 4 KiB body limit and 5 items per bulk request, and an all-scopes key."""
    app = create_app(make_settings(database_url, tmp_path, max_body_bytes=MAX_BODY,
                                   bulk_max_items=MAX_ITEMS))
    headers = await make_key("admin")
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        topic = {"key": "newsletter", "name": "Newsletter", "channels": ["email"]}
        assert (await client.post("/v1/topics", headers=headers, json=topic)).status_code == 201
        yield client, headers


def emails(n: int, width: int = 0) -> list[str]:
    return [f"person{i}{'x' * width}@example.com" for i in range(n)]


BULK = {
    "/v1/suppressions/check": lambda addresses: {"channel": "email", "addresses": addresses},
    "/v1/suppressions": lambda addresses: {"channel": "email", "reason": "manual",
                                           "source": "test", "addresses": addresses},
    "/v1/links": lambda addresses: {"recipients": [{"channel": "email", "address": a,
                                                    "topic": "newsletter"} for a in addresses]},
}


@pytest.mark.parametrize("path", list(BULK))
async def test_bulk_requests_over_the_item_limit_write_nothing(small, db, path):
    client, headers = small
    ok = await client.post(path, headers=headers, json=BULK[path](emails(MAX_ITEMS)))
    assert ok.status_code == 200, ok.text  # the control: at the limit it works
    before = await counts(db)
    over = await client.post(path, headers=headers, json=BULK[path](emails(MAX_ITEMS + 1, 1)))
    assert over.status_code in (413, 422), over.text
    assert str(MAX_ITEMS) in over.json()["detail"]
    assert await counts(db) == before


BODY_PATHS = [*BULK, "/v1/contacts", "/v1/topics", "/v1/subscriptions",
              "/v1/contacts/x/preferences"]


@pytest.mark.parametrize("path", BODY_PATHS)
async def test_bodies_over_the_byte_limit_are_413_and_write_nothing(small, db, path):
    client, headers = small
    body = b'{"addresses": ["' + b"a" * (MAX_BODY * 4) + b'"]}'
    before = await counts(db)
    method = "PUT" if path.endswith("/preferences") else "POST"
    response = await client.request(method, path, content=body,
                                    headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 413, (path, response.status_code, response.text)
    assert await counts(db) == before


def post_chunked(base: str, method: str, path: str, headers: dict, megabytes: int) -> int:
    """Send a JSON body of `megabytes` MiB without a Content-Length (chunked); the status."""
    def body():
        yield b'{"channel": "email", "addresses": ["'
        for _ in range(megabytes * 1024):
            yield b"a" * 1024
        yield b'"]}'

    response = httpx.request(method, base + path, content=body(), timeout=60,
                             headers={**headers, "Content-Type": "application/json"})
    return response.status_code


async def test_chunked_bodies_over_the_limit_are_refused_without_buffering_them(
        settings, db, make_key):
    """Over real HTTP (uvicorn), no Content-Length: the server stops at the limit. The bulk
    check reads its own body; before the fix the NUL guard read the whole of it first,
    unbounded (a 20 MiB body took 43 MB of memory)."""
    headers = await make_key("admin")
    before = await counts(db)
    small_settings = settings.model_copy(update={"max_body_bytes": MAX_BODY})
    with served(small_settings) as base:
        for path in BODY_PATHS:
            method = "PUT" if path.endswith("/preferences") else "POST"
            status = await asyncio.to_thread(post_chunked, base, method, path, headers, 1)
            assert status == 413, (path, status)
        tracemalloc.start()
        try:
            status = await asyncio.to_thread(post_chunked, base, "POST",
                                             "/v1/suppressions/check", headers, 20)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert status == 413
    assert peak < 10_000_000, f"the server held {peak / 1e6:.0f} MB for a 20 MiB body"
    assert await counts(db) == before


async def test_pages_refuse_oversized_forms(small, db):
    client, _ = small
    await client.get("/p")
    before = await counts(db)
    response = await client.post("/p", data={"email": "a" * (MAX_BODY * 2),
                                              "_csrf_token": client.cookies.get("csrftoken")})
    assert response.status_code in (400, 413)
    assert await counts(db) == before


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "DATA_DIR": str(settings.data_dir), "ENVIRONMENT": "test",
           "SECRET_KEYS": ",".join(settings.secret_keys), "HASH_KEY": settings.hash_key}
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=env,
                          capture_output=True, timeout=120)


HOSTILE_ROWS = [  # (row, what makes it bad); None: a good row
    (b"{ref}good1@example.com", None),
    (b"{ref}latin1-\xe9t\xe9@example.com", "is not UTF-8"),
    (b"{ref}nul\x00@example.com", ""),
    (b"{ref}" + b"x" * 200_000 + b"@example.com", "field larger than field limit"),
    (b"\x00\x01\x02\xde\xad\xbe\xef", ""),
    (b"{ref}good2@example.com", None),
    (b"{ref}=HYPERLINK(\"http://evil.example\")@example.com", "valid email"),
    (b"{ref}\xef\xbb\xbfbom-in-the-middle@example.com", "valid email"),
    (b"{ref}<script>@example.com", "valid email"),
    (b"{ref}good3@example.com", None),
    # a quote never closed: the rest of the file is one field, reported as one bad row
    (b'{ref}"unterminated@example.com', ""),
    (b"{ref}swallowed@example.com", None),
]
SWALLOWED = 1  # the good-looking rows after the unclosed quote


@pytest.mark.parametrize("kind", ["contacts", "suppressions"])
async def test_malformed_csv_rows_are_reported_one_by_one(settings, rt, db, tmp_path, kind):
    header = b"external_ref,channel,address" if kind == "contacts" else b"address"
    lines = [header]
    for i, (row, _) in enumerate(HOSTILE_ROWS):
        lines.append(row.replace(b"{ref}", f"crm-{i},email,".encode() if kind == "contacts"
                                 else b""))
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    extra = [] if kind == "contacts" else ["--channel", "email", "--reason", "unsubscribed"]
    dry = cli(settings, "import", kind, str(path), *extra, "--dry-run")
    before = await counts(db)
    assert before["contact"] == before["suppression"] == 0
    result = cli(settings, "import", kind, str(path), *extra)
    out = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 1, out
    assert "Traceback" not in out and "Traceback" not in dry.stderr.decode("utf-8", "replace")
    for number, (_, problem) in enumerate(HOSTILE_ROWS[:-SWALLOWED], start=2):
        if problem is not None:
            assert f"row {number}:" in out, (number, problem, out[-3000:])
            assert problem in out
    good = {"good1@example.com", "good2@example.com", "good3@example.com"}
    if kind == "contacts":
        stored = {r[0] for r in await db.fetch("SELECT normalized FROM address")}
        assert stored == good, out
    else:
        stored = {r[0] for r in await db.fetch("SELECT address_key FROM suppression")}
        assert stored == {rt.keyer.key("email", a) for a in good}, out
