"""A tenant's own host name in a real headless Chromium against the real app (uvicorn), on both
engines: Chromium resolves B's host name to the server (`--host-resolver-rules`), so the pages
get B's name in `Host` with the port, as behind DNS. On B's host `/p` and `/o` show B's brand
and colour and write into B; A's printed code there is an unknown code; the server's own
address shows the default tenant."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import async_playwright, expect

from service.codes import logic as codes
from service.db.tenant_db import TenantDb
from service.tenants.logic import update_tenant
from service.tenants.registry import TenantRegistry
from tests.preferences.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, served
from tests.preferences.seed import offline_runtime
from tests.unsubscribe.helpers import add_tenant_contact, counts, tenant_of

B_HOST = "prefs.brand-b.example"


@pytest.fixture
async def b_browser():
    """The conftest's Chromium, with B's host name resolved to this machine (and only it)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {B_HOST} 127.0.0.1"])
        yield chromium
        await chromium.close()


@pytest.fixture
async def seeded(settings, db, raw_db, tenant_b):
    """B with its host name and colour; Ann in both tenants, each with a printed code."""
    await update_tenant(db, TenantRegistry(), "b", {
        "domains": [B_HOST], "settings": {"org_primary_colour": "#aa0000"}})
    rt = offline_runtime(settings)
    issued = {}
    for tenant_id in (1, tenant_b.id):
        view = TenantDb(raw_db, tenant_id)
        contact_id, _ = await add_tenant_contact(view, rt, "email", "ann@example.com")
        [issued[tenant_id]] = await codes.issue(view, settings.hash_key,
                                                [(contact_id, "post", "*", "")])
    return tenant_b, issued


async def test_a_tenants_host_shows_and_writes_that_tenant_in_chromium(
        request, settings, raw_db, seeded, b_browser):
    tenant_b, issued = seeded
    engine = request.node.callspec.params["database_url"]
    ARTIFACTS.mkdir(exist_ok=True)
    with served(settings) as base:
        b_base = base.replace("127.0.0.1", B_HOST)
        page = await b_browser.new_page(locale="en-GB")

        # "email me a link" on B's host: B's brand and colour; the link is B's, mailed from B
        await page.goto(f"{b_base}/p")
        await expect(page.locator("header .org")).to_have_text("Brand B")
        await expect(page).to_have_title("Get a link to your preferences – Brand B")
        brand = await page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--brand').trim()")
        assert brand == "#aa0000"
        await page.get_by_label("Your email address").fill("ann@example.com")
        await page.get_by_role("button", name="Email me a link").click()
        await expect(page.get_by_role("status")).to_contain_text("If we hold preferences")
        await page.screenshot(path=ARTIFACTS / f"host-tenant-link-{engine}.png", full_page=True)
        [job] = await raw_db.fetch("SELECT tenant_id, payload FROM outbox WHERE kind = 'email'")
        assert job["tenant_id"] == tenant_b.id
        token = json.loads(job["payload"])["context"]["url"].rsplit("/p/", 1)[1]
        assert token.startswith(f"t{tenant_b.id}~")

        # A's code typed on B's host: exactly an unknown code, nothing written
        before = await counts(raw_db)
        await page.goto(f"{b_base}/o")
        await expect(page.locator("header .org")).to_have_text("Brand B")
        await page.get_by_label("Your opt-out code").fill(issued[1].lower())
        await page.get_by_role("button", name="Opt out").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "We do not know that code, so nothing has changed. Please check it and try again.")
        assert await counts(raw_db) == before

        # B's own code there: B's contact opts out, in B
        await page.get_by_label("Your opt-out code").fill(issued[tenant_b.id])
        await page.get_by_role("button", name="Opt out").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
        await expect(page.get_by_role("status")).to_contain_text("from Brand B by post")
        await page.screenshot(path=ARTIFACTS / f"host-tenant-code-{engine}.png", full_page=True)
        assert await tenant_of(raw_db, "consent_event",
                               "source = 'printed_code'") == [tenant_b.id]

        # the server's own address names no tenant: the default one
        await page.goto(f"{base}/o")
        await expect(page.locator("header .org")).to_have_text("Example Ltd")
        await page.close()
