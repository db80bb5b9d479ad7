"""Mail security scanners fetch every link in every message (GET, HEAD, following the links in
the page, some running its scripts in a headless browser). None of that may change anything:
the row count of every table is the same before and after, on both engines."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import async_playwright

from tests.preferences.browser import CHROMIUM, CHROMIUM_ARGS, served
from tests.security.conftest import counts, page_urls, state_of, tokens_for
from tests.unsubscribe.helpers import SCANNER_AGENTS

AGENTS = [
    *SCANNER_AGENTS,
    # Microsoft Defender for Office 365 Safe Links detonates links from Azure with browser UAs
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
    "Mozilla/5.0 (compatible; Proofpoint URL Defense; +https://www.proofpoint.com)",
    "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML,"
    " like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1)",
    "Wget/1.21.4",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
]
HREF = re.compile(r'(?:href|src)="(/[^"]*)"')


def all_links(people, rt) -> list[str]:
    """Every recipient link of both people, of a person unknown to us, and broken ones."""
    ann, bob = people
    unknown = tokens_for(rt, uuid.uuid4().hex, 999)
    return sorted({*page_urls(ann.tokens), *page_urls(bob.tokens), *page_urls(unknown),
                   "/u/not-a-token", "/p/not-a-token", "/c/x.y.z", "/privacy/A.B"})


async def test_scanners_fetching_every_link_change_nothing(client, db, rt, people):
    links = all_links(people, rt)
    before = await counts(db)
    states = [await state_of(db, person) for person in people]
    fetched = 0
    for agent in AGENTS:
        headers = {"User-Agent": agent, "Accept": "text/html,*/*"} if agent else {}
        for url in links:
            for _ in range(2):
                got = await client.get(url, headers=headers)
                assert got.status_code < 500, (url, agent)
                headed = await client.head(url, headers=headers)
                assert headed.status_code < 500 and headed.content == b"", (url, agent)
                fetched += 2
            # a crawler follows what the page links to
            for link in set(HREF.findall(got.text)):
                assert (await client.get(link, headers=headers)).status_code < 500, link
                fetched += 1
    assert fetched > 1000
    assert await counts(db) == before
    assert [await state_of(db, person) for person in people] == states


@pytest.mark.slow
async def test_a_headless_browser_running_the_pages_changes_nothing(settings, db, rt, people):
    """Chromium (scripts on, and off) opens every link, waits for the network to go quiet,
    then opens every link each page points to, as a detonating scanner does."""
    links = all_links(people, rt)
    before = await counts(db)
    opened = 0
    with served(settings) as base:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS)
            try:
                for scripts in (True, False):
                    context = await browser.new_context(java_script_enabled=scripts,
                                                        user_agent=AGENTS[-8])
                    page = await context.new_page()
                    for url in links:
                        response = await page.goto(base + url, wait_until="networkidle")
                        assert response is not None and response.status < 500, url
                        opened += 1
                        hrefs = await page.eval_on_selector_all(
                            "a[href]", "els => els.map(e => e.getAttribute('href'))")
                        for href in hrefs:
                            if href.startswith("/"):
                                followed = await page.goto(base + href, wait_until="networkidle")
                                assert followed is None or followed.status < 500, href
                                opened += 1
                    await context.close()
            finally:
                await browser.close()
    assert opened >= 2 * len(links)
    assert await counts(db) == before
