"""Choosing "Monthly" in a real headless Chromium — on the preference centre and as "Fewer
emails instead" on the unsubscribe page — then recording a send through POST /v1/sends: the
check blocks a second send inside the month, with next_allowed_at. Both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from service.security.tokens import TokenData
from tests.preferences.browser import served
from tests.sends.conftest import new_contact

CHECK = "/v1/suppressions/check"
MONTH = timedelta(days=30)


async def send_then_check(client, mailer, address: str) -> dict:
    """A send three days ago through the API, then the single check of a second one."""
    sent_at = datetime.now(UTC) - timedelta(days=3)
    recorded = await client.post("/v1/sends", headers=mailer, json={
        "channel": "email", "topic": "newsletter", "sent_at": sent_at.isoformat(),
        "addresses": [address]})
    assert recorded.json()["recorded"] == 1, recorded.text
    body = (await client.get(CHECK, headers=mailer, params={
        "channel": "email", "address": address, "topic": "newsletter"})).json()
    assert body["allowed"] is False and body["reasons"] == ["frequency"], body
    clear = datetime.fromisoformat(body["next_allowed_at"].replace("Z", "+00:00"))
    assert abs(clear - (sent_at + MONTH)) < timedelta(seconds=1)
    return body


async def test_monthly_on_the_preference_centre(settings, client, rt, topics, mailer, crm,
                                                browser):
    contact = await new_contact(client, crm, "ann@example.com")
    token = rt.signer.sign("preferences", TokenData(contact, "email", "*"))
    with served(settings) as base:
        page = await browser.new_page(locale="en-GB")
        await page.goto(f"{base}/p/{token}")
        email = page.get_by_role("group", name="Email (a…@example.com)")
        how_often = email.get_by_label("How often?")
        await expect(how_often).to_have_count(2)  # newsletter and offers offer several
        await expect(how_often.first).to_have_value("immediate")
        await how_often.first.select_option(label="At most once a month")
        await email.get_by_label("Marketing messages a week on this channel").select_option(
            label="At most 3 marketing messages a week")
        await page.get_by_role("button", name="Save my choices").click()
        await expect(page.get_by_role("status")).to_contain_text("Your choices are saved.")
        await expect(page.get_by_role("status")).to_contain_text(
            "“Newsletter” At most once a month")
        await expect(email.get_by_label("How often?").first).to_have_value("monthly")
        await page.close()
    prefs = (await client.get(f"/v1/contacts/{contact}/preferences", headers=crm)).json()
    paces = {p["topic"]: (p["frequency"], p["max_per_week"]) for p in prefs["preferences"]}
    assert paces == {"newsletter": ("monthly", None), None: (None, 3)}
    await send_then_check(client, mailer, "ann@example.com")


async def test_fewer_emails_instead_on_the_unsubscribe_page(settings, client, rt, topics,
                                                            mailer, crm, browser):
    contact = await new_contact(client, crm, "bob@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact, "email", "newsletter"))
    with served(settings) as base:
        page = await browser.new_page(locale="en-GB")
        await page.goto(f"{base}/u/{token}")
        fewer = page.get_by_role("form", name="Fewer emails instead")
        await expect(fewer.get_by_role("button")).to_have_text(
            ["At most once a week", "At most once a month"])
        await expect(page.get_by_role("button", name="Unsubscribe")).to_be_visible()
        await fewer.get_by_role("button", name="At most once a month").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "You will receive “Newsletter” less often")
        await page.close()
    body = await send_then_check(client, mailer, "bob@example.com")
    assert "unsubscribed" not in body["reasons"]  # still subscribed, only less often
    events = (await client.get(f"/v1/contacts/{contact}/events", headers=crm)).json()["events"]
    assert [(e["action"], e["source"], e["detail"]) for e in events] == [
        ("frequency", "unsubscribe_page", {"frequency": "monthly"})]


async def test_the_fewer_form_needs_its_csrf_token_and_a_get_writes_nothing(
        settings, client, rt, topics, crm, db):
    contact = await new_contact(client, crm, "cy@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact, "email", "newsletter"))
    page = await client.get(f"/u/{token}")
    assert page.status_code == 200 and "Fewer emails instead" in page.text
    refused = await client.post(f"/u/{token}/fewer", data={"frequency": "monthly"})
    assert refused.status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE action = 'frequency'") \
        == 0
