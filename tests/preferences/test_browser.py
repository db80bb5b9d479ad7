"""The preference centre in a real headless Chromium against the real app (uvicorn), on both
engines: switch a topic off and a channel off, save, and see the send decision follow."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from service.security.tokens import TokenData
from tests.preferences.browser import ARTIFACTS, served
from tests.preferences.seed import add_contact, add_topic, offline_runtime, reasons, snapshot

ANN, PHONE = "ann@example.com", "+44 20 7946 0123"


@pytest.fixture
async def ann(settings, db):
    rt = offline_runtime(settings)
    await add_topic(db, "newsletter", "Newsletter", ["email"], description="Monthly news")
    await add_topic(db, "offers", "Offers", ["email", "sms"], "legitimate_interest")
    await add_topic(db, "account", "Account notices", ["email", "sms"], transactional=True)
    contact_id = await add_contact(db, rt, [("email", ANN), ("sms", PHONE)])
    return rt, rt.signer.sign("preferences", TokenData(contact_id, "email", "*"))


async def test_switch_a_topic_and_a_channel_off_in_chromium(request, settings, db, ann,
                                                            browser):
    rt, token = ann
    engine = request.node.callspec.params["database_url"]
    ARTIFACTS.mkdir(exist_ok=True)
    with served(settings) as base:
        page = await browser.new_page(locale="en-GB", viewport={"width": 390, "height": 844})
        await page.goto(f"{base}/p/{token}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Your communication preferences")
        # readable on a phone: nothing wider than the screen
        assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")

        email = page.get_by_role("group", name=re.compile(r"^Email"))
        sms = page.get_by_role("group", name=re.compile(r"^Text messages"))
        newsletter = email.get_by_role("checkbox", name=re.compile("^Newsletter"))
        sms_channel = sms.get_by_role("checkbox", name=re.compile("^Marketing on this channel"))
        account = email.get_by_role("checkbox", name=re.compile("^Account notices"))
        await expect(newsletter).to_be_checked()
        await expect(sms_channel).to_be_checked()
        await expect(account).to_be_checked()
        await expect(account).to_be_disabled()  # transactional: cannot be switched off

        # by keyboard: focus the topic and press Space; the channel by pointer
        await newsletter.focus()
        await page.keyboard.press("Space")
        await expect(newsletter).not_to_be_checked()
        await sms_channel.uncheck()
        before = await snapshot(db)
        await page.get_by_role("button", name="Save my choices").focus()
        await page.keyboard.press("Enter")

        status = page.get_by_role("status")
        await expect(status).to_contain_text("Your choices are saved.")
        await expect(status).to_contain_text("Email: “Newsletter” switched off")
        await expect(status).to_contain_text("Text messages (SMS): all marketing switched off")
        await expect(page.get_by_role("group", name=re.compile(r"^Email"))
                     .get_by_role("checkbox", name=re.compile("^Newsletter"))).not_to_be_checked()
        await page.screenshot(path=ARTIFACTS / f"preference-centre-{engine}.png", full_page=True)
        saved = await snapshot(db)
        assert saved["consent_event"] == before["consent_event"] + 2

        # a form posted without the CSRF token (the browser still has the cookie) is refused
        response = await page.request.post(f"{base}/p/{token}",
                                           form={"action": "unsubscribe_all"})
        assert response.status == 403
        assert await snapshot(db) == saved
        await page.close()

    # the send decision: blocked for what was switched off, allowed for the rest
    assert await reasons(db, rt, "email", ANN, "newsletter") == ["unsubscribed", "opted_out"]
    assert await reasons(db, rt, "sms", PHONE, "offers") == ["unsubscribed", "opted_out"]
    assert await reasons(db, rt, "sms", PHONE, None) == ["unsubscribed", "opted_out"]
    assert await reasons(db, rt, "email", ANN, "offers") == []
    assert await reasons(db, rt, "email", ANN, None) == []
    assert await reasons(db, rt, "email", ANN, "account") == []
    assert await reasons(db, rt, "sms", PHONE, "account") == []


async def test_link_request_page_in_german_in_chromium(settings, db, browser):
    with served(settings) as base:
        context = await browser.new_context(locale="de-DE",
                                            extra_http_headers={"Accept-Language": "de"})
        page = await context.new_page()
        await page.goto(f"{base}/p")
        field = page.get_by_label("Ihre E-Mail-Adresse")
        await field.fill("nobody@example.com")
        await field.press("Enter")
        await expect(page.get_by_role("status")).to_contain_text("Wenn wir zu dieser Adresse")
        await context.close()
