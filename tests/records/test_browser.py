"""The person downloads a consent receipt from the self-service data page in a real headless
Chromium against the real app (uvicorn), on both engines."""

from __future__ import annotations

import json

from playwright.async_api import expect

from tests.preferences.browser import served
from tests.records.test_receipts import assert_kantara, pref_token


async def test_download_a_receipt_from_the_data_page(settings, rt, db, ann, browser, tmp_path):
    token = pref_token(rt, ann.contact_id)
    before = await db.fetchval("SELECT COUNT(*) FROM consent_event")
    with served(settings) as base:
        page = await browser.new_page(locale="en-GB", accept_downloads=True)
        await page.goto(f"{base}/p/{token}/data")
        await expect(page.get_by_role("heading", name="Your consent receipts")).to_be_visible()
        links = page.get_by_role("link", name="Download receipt")
        await expect(links).to_have_count(2)
        async with page.expect_download() as info:
            await links.first.click()
        download = await info.value
        path = tmp_path / download.suggested_filename
        await download.save_as(path)
        receipt = json.loads(path.read_text())
        assert_kantara(receipt)
        assert receipt["piiPrincipalId"] == ann.contact_id
        assert download.suggested_filename.startswith("consent-receipt-")

        async with page.expect_download() as info:
            await page.get_by_role("link", name="Download all receipts").click()
        everything = await info.value
        await everything.save_as(tmp_path / "all.json")
        assert len(json.loads((tmp_path / "all.json").read_text())) == 2
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == before
