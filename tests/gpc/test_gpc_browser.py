"""Global Privacy Control in a real headless Chromium (Playwright's `extra_http_headers`)
against the real app, on both engines: the preference centre tells the browser what it honours,
the page's GET changes nothing, and saving the form untouched switches partner sharing off and
leaves every other choice as it was; the public check API says so."""

from __future__ import annotations

import re

from playwright.async_api import expect

from service.security.tokens import TokenData
from tests.gpc.helpers import (
    ADDRESS,
    GPC,
    PARTNERS_OFF,
    decisions,
    gpc_events,
    seed,
    without_partners,
)
from tests.preferences.browser import served
from tests.preferences.seed import offline_runtime, snapshot


async def test_gpc_browser_saves_partner_sharing_off_in_chromium(settings, db, browser,
                                                                 make_key):
    rt = offline_runtime(settings)
    contact_id = await seed(db, rt)
    token = rt.signer.sign("preferences", TokenData(contact_id, "email", "*"))
    checker = await make_key("suppressions:read")
    before, counts = await decisions(db, rt), await snapshot(db)

    with served(settings) as base:
        context = await browser.new_context(locale="en-GB", extra_http_headers=GPC)
        page = await context.new_page()
        await page.goto(f"{base}/p/{token}")
        await expect(page.locator("#gpc-notice")).to_contain_text(
            "Your browser sent a Global Privacy Control signal. We honour it")
        email = page.get_by_role("group", name=re.compile(r"^Email"))
        partners = email.get_by_role("checkbox", name=re.compile("^Partner offers"))
        await expect(partners).to_be_checked()  # shown as it is: the GET changed nothing
        assert await snapshot(db) == counts

        # saved without touching anything
        await page.get_by_role("button", name="Save my choices").click()
        status = page.get_by_role("status")
        await expect(status).to_contain_text("Your choices are saved.")
        await expect(status).to_contain_text(
            "Email: “Partner offers” switched off, as your browser's Global Privacy Control "
            "signal asks")
        await expect(status).to_contain_text("Text messages (SMS): “Partner offers” switched off")
        await expect(page.get_by_role("group", name=re.compile(r"^Email"))
                     .get_by_role("checkbox", name=re.compile("^Partner offers"))
                     ).not_to_be_checked()

        # the public check API, as a mailer asks it
        for channel, address in ADDRESS.items():
            answer = await page.request.get(
                f"{base}/v1/suppressions/check", headers=checker,
                params={"channel": channel, "address": address, "topic": "partners"})
            assert answer.ok
            assert (await answer.json())["allowed"] is False
            assert "opted_out" in (await answer.json())["reasons"]
        await context.close()

    assert await gpc_events(db) == PARTNERS_OFF
    assert without_partners(await decisions(db, rt)) == without_partners(before)
