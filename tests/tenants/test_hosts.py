"""A tenant's own host names (issue 18, decision D4 of docs/plans/tenants.md), over HTTP on both
engines: the pages without a token (`/p`, `/o`, `/brand.css`) act in the tenant whose
`domains` hold the request's Host (any case, any port), an unknown host gets the default
tenant, /v1 ignores Host, and a host name serves one tenant only (409 naming it).
The same pages in a real browser: tests/tenants/test_hosts_browser.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from service.codes import logic as codes
from service.db.engine import Database
from service.db.tenant_db import TenantDb
from service.tenants.logic import create_tenant, list_tenants
from service.tenants.registry import TenantRegistry
from tests.unsubscribe.helpers import add_tenant_contact, counts, tenant_of

B_HOST = "prefs.brand-b.example"
B_SETTINGS = {"org_primary_colour": "#aa0000", "org_privacy_url": "https://brand-b.example/privacy",
              "org_support_contact": "help@brand-b.example"}


@pytest.fixture
async def b_hosted(client, operator_headers, tenant_b):
    """Tenant b with its own host name and branding, set as the operator sets them."""
    response = await client.patch("/v1/tenants/b", headers=operator_headers,
                                  json={"domains": [B_HOST], "settings": B_SETTINGS})
    assert response.status_code == 200, response.text
    assert response.json()["domains"] == [B_HOST]
    return tenant_b


async def _csrf_post(client, path: str, host: str, data: dict):
    page = await client.get(path, headers={"Host": host})
    assert page.status_code == 200, page.text
    token = client.cookies.get("csrftoken")
    return await client.post(path, headers={"Host": host}, data={**data, "_csrf_token": token})


@pytest.mark.parametrize("host", [B_HOST, "PREFS.Brand-B.example:8443", B_HOST + "."])
async def test_pages_without_a_token_show_the_tenant_of_their_host(client, b_hosted, host):
    for path in ("/p", "/o"):
        page = await client.get(path, headers={"Host": host})
        assert page.status_code == 200, page.text
        assert "Brand B" in page.text and "Example Ltd" not in page.text
        assert "https://brand-b.example/privacy" in page.text
        assert "help@brand-b.example" in page.text
    css = await client.get("/brand.css", headers={"Host": host})
    assert "#aa0000" in css.text


@pytest.mark.parametrize("host", ["prefs.example.com", "unknown.example", "127.0.0.1:8000",
                                  "[::1]:8000", "brand-b.example"])
async def test_a_host_no_tenant_names_gets_the_default_tenant(client, b_hosted, host):
    for path in ("/p", "/o"):
        page = await client.get(path, headers={"Host": host})
        assert page.status_code == 200, page.text
        assert "Example Ltd" in page.text and "Brand B" not in page.text
    css = await client.get("/brand.css", headers={"Host": host})
    assert "#aa0000" not in css.text


async def test_the_link_request_on_a_tenants_host_mails_that_tenants_link(
        client, raw_db, rt, b_hosted):
    b_view = TenantDb(raw_db, b_hosted.id)
    await add_tenant_contact(b_view, rt, "email", "ann@example.com")

    sent = await _csrf_post(client, "/p", B_HOST, {"email": "Ann@Example.com"})
    assert sent.status_code == 200, sent.text
    assert "Brand B" in sent.text
    [job] = await raw_db.fetch("SELECT tenant_id, payload FROM outbox WHERE kind = 'email'")
    assert job["tenant_id"] == b_hosted.id
    url = json.loads(job["payload"])["context"]["url"]
    token = url.rsplit("/p/", 1)[1]
    assert token.startswith(f"t{b_hosted.id}~")
    opened = await client.get(f"/p/{token}")  # the mailed link opens B's centre, on any host
    assert opened.status_code == 200 and "Brand B" in opened.text
    # with B's colour: the page names its tenant to /brand.css, which the host does not
    assert f'href="/brand.css?t={b_hosted.id}"' in opened.text
    css = await client.get(f"/brand.css?t={b_hosted.id}")
    assert "#aa0000" in css.text
    assert "#aa0000" not in (await client.get("/brand.css")).text
    assert "#aa0000" not in (await client.get("/brand.css?t=999")).text

    # the same address asked for on the default host is unknown there: a no-op, in tenant 1
    again = await _csrf_post(client, "/p", "prefs.example.com", {"email": "ann@example.com"})
    assert again.status_code == 200 and "Example Ltd" in again.text
    assert await tenant_of(raw_db, "outbox", "kind = 'email'") == [b_hosted.id]
    assert await tenant_of(raw_db, "outbox", "kind = 'noop'") == [1]


async def test_a_code_acts_on_its_tenants_host_and_is_unknown_on_another(
        client, raw_db, rt, b_hosted):
    hash_key = rt.settings.hash_key
    issued = {}
    for tenant_id in (1, b_hosted.id):
        view = TenantDb(raw_db, tenant_id)
        contact_id, _ = await add_tenant_contact(view, rt, "email", "ann@example.com")
        [issued[tenant_id]] = await codes.issue(view, hash_key, [(contact_id, "post", "*", "")])

    before = await counts(raw_db)
    unknown_code = "0000-0000-00"  # well shaped, issued by nobody
    unknown = await client.post("/o", headers={"Host": B_HOST}, data={"code": unknown_code})
    foreign = await client.post("/o", headers={"Host": B_HOST}, data={"code": issued[1]})
    # A's code on B's host answers exactly as a code nobody issued, and writes nothing
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.text.replace(issued[1], unknown_code) == unknown.text
    assert await counts(raw_db) == before
    # and B's code on A's (the default) host too
    on_a = await client.post("/o", headers={"Host": "prefs.example.com"},
                             data={"code": issued[b_hosted.id]})
    assert on_a.status_code == 404 and "Example Ltd" in on_a.text
    assert await counts(raw_db) == before

    done = await client.post("/o", headers={"Host": B_HOST}, data={"code": issued[b_hosted.id]})
    assert done.status_code == 200, done.text
    assert "Brand B" in done.text
    assert await tenant_of(raw_db, "preference", "channel = 'post'") == [b_hosted.id]
    assert await tenant_of(raw_db, "consent_event", "source = 'printed_code'") == [b_hosted.id]


async def test_v1_ignores_the_host(client, admin_headers, b_hosted):
    """The key decides on /v1: an admin key of the default tenant sent to B's host acts in
    the default tenant."""
    made = await client.post("/v1/topics", headers={**admin_headers, "Host": B_HOST}, json={
        "key": "news", "name": "News", "channels": ["email"], "legal_basis": "consent"})
    assert made.status_code == 201, made.text
    listed = await client.get("/v1/topics", headers=admin_headers)
    assert [t["key"] for t in listed.json()] == ["news"]


async def test_a_host_name_serves_one_tenant(client, operator_headers, b_hosted):
    clash = await client.post("/v1/tenants", headers=operator_headers, json={
        "slug": "c", "name": "Brand C", "domains": ["shop.c.example", B_HOST]})
    assert clash.status_code == 409, clash.text
    [error] = clash.json()["errors"]
    assert error["field"] == "domains" and B_HOST in error["message"] and "'b'" in error["message"]
    assert (await client.get("/v1/tenants/c", headers=operator_headers)).status_code == 404

    made = await client.post("/v1/tenants", headers=operator_headers, json={
        "slug": "c", "name": "Brand C", "domains": ["shop.c.example"]})
    assert made.status_code == 201, made.text
    taken = await client.patch("/v1/tenants/c", headers=operator_headers,
                               json={"domains": ["shop.c.example", B_HOST]})
    assert taken.status_code == 409 and B_HOST in taken.text
    # the default tenant's host names are no exception
    on_default = await client.patch("/v1/tenants/default", headers=operator_headers,
                                    json={"domains": [B_HOST]})
    assert on_default.status_code == 409
    # b may keep (and repeat) its own; once b lets it go, c may take it
    assert (await client.patch("/v1/tenants/b", headers=operator_headers,
                               json={"domains": [B_HOST, B_HOST]})).status_code == 200
    assert (await client.patch("/v1/tenants/b", headers=operator_headers,
                               json={"domains": []})).status_code == 200
    moved = await client.patch("/v1/tenants/c", headers=operator_headers,
                               json={"domains": [B_HOST]})
    assert moved.status_code == 200, moved.text
    page = await client.get("/p", headers={"Host": B_HOST})
    assert "Brand C" in page.text


@pytest.mark.parametrize("domain", ["", "localhost", " b.example", "b.example.", "-b.example",
                                    "b_c.example", "b.example:443", "https://b.example",
                                    "a" * 64 + ".example"])
async def test_a_domain_that_is_no_host_name_is_refused_naming_the_field(
        client, operator_headers, tenant_b, domain):
    response = await client.patch("/v1/tenants/b", headers=operator_headers,
                                  json={"domains": [domain]})
    assert response.status_code in (400, 422), response.text
    assert any(e["field"].startswith("domains") for e in response.json()["errors"]), response.text


async def test_a_host_name_is_stored_in_lower_case(client, operator_headers, tenant_b):
    response = await client.patch("/v1/tenants/b", headers=operator_headers,
                                  json={"domains": ["PREFS.Brand-B.example", B_HOST]})
    assert response.status_code == 200, response.text
    assert response.json()["domains"] == [B_HOST]
    page = await client.get("/p", headers={"Host": B_HOST})
    assert "Brand B" in page.text


async def test_a_tenants_printed_codes_point_at_its_host_and_work_there(
        client, raw_db, headers_b, admin_headers, b_hosted):
    """`/v1/links` of a tenant with host names prints its first one as the code's page (the
    fax notice too), and the code works there; the default tenant's stay on PUBLIC_BASE_URL."""
    fax = {"channel": "fax", "address": "+44 20 7946 0999"}
    made = await client.post("/v1/links", headers=headers_b, json={"recipients": [fax]})
    assert made.status_code == 200, made.text
    [link] = made.json()["links"]
    assert link["opt_out_url"] == f"https://{B_HOST}/o"
    assert f"https://{B_HOST}/o" in link["notice"] and "Brand B" in link["notice"]
    default = await client.post("/v1/links", headers=admin_headers, json={"recipients": [fax]})
    assert default.json()["links"][0]["opt_out_url"] == "https://prefs.example.com/o"

    done = await client.post("/o", headers={"Host": B_HOST}, data={"code": link["opt_out_code"]})
    assert done.status_code == 200, done.text
    assert await tenant_of(raw_db, "suppression", "channel = 'fax'") == [b_hosted.id]


async def test_two_tenants_given_one_host_name_at_once_cannot_both_have_it(settings, raw_db):
    """The check runs in the writing transaction under the tenant-writes lock (PostgreSQL) or
    SQLite's one writer: of two creates racing for a name on two connections, one gets 409."""
    other = Database(settings.database_url, synchronous="NORMAL")
    await other.open()
    try:
        results = await asyncio.gather(*(
            create_tenant(TenantDb(db, 1), TenantRegistry(), slug, slug.upper(), None, {},
                          ["race.example"])
            for db, slug in ((raw_db, "one"), (other, "two"))), return_exceptions=True)
    finally:
        await other.close()
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"], results
    holders = [r["domains"] for r in await list_tenants(TenantDb(raw_db, 1))]
    assert holders.count(["race.example"]) == 1
