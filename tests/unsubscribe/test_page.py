"""GET /u/{token}: says what will stop, one button, no script, no third-party assets, noindex;
and however often scanners fetch it (GET or HEAD), nothing changes."""

from __future__ import annotations

import re

import pytest

from service.security.tokens import TokenData
from tests.unsubscribe.helpers import SCANNER_AGENTS, add_contact, add_topic, counts


@pytest.fixture(autouse=True)
async def topics(db):
    await add_topic(db, "newsletter", "Monthly <Newsletter>", legal_basis="soft_opt_in")


def page_path(rt, contact_id, topic="newsletter", channel="email"):
    return "/u/" + rt.signer.sign("unsubscribe", TokenData(contact_id, channel, topic, "c"))


async def test_scanners_fetching_the_page_change_nothing(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "ann@example.com")
    path = page_path(rt, contact_id)
    before = await counts(db)
    for agent in SCANNER_AGENTS:
        for _ in range(5):
            got = await client.get(path, headers={"User-Agent": agent})
            assert got.status_code == 200
            headed = await client.head(path, headers={"User-Agent": agent})
            assert headed.status_code == 200 and headed.content == b""
        # a scanner that follows the page's links and fetches its assets
        for asset in re.findall(r'(?:href|src)="(/[^"]*)"', got.text):
            assert (await client.get(asset, headers={"User-Agent": agent})).status_code < 500
    assert await counts(db) == before


async def test_page_names_the_topic_and_has_one_button(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "bob@example.com")
    path = page_path(rt, contact_id)
    page = await client.get(path)
    html = page.text
    assert "Monthly &lt;Newsletter&gt;" in html  # the topic's name, escaped
    assert html.count("<form") == 1 and html.count("<button") == 1
    assert f'<form method="post" action="{path}">' in html
    assert "<script" not in html.lower()
    assert re.search(r'<meta name="robots" content="noindex', html)
    assert "noindex" in page.headers["x-robots-tag"]
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert page.headers["cache-control"] == "no-store"
    for url in re.findall(r'(?:href|src|action)="([^"]*)"', html):
        assert url.startswith("/"), f"third-party or absolute asset: {url}"


async def test_whole_channel_page_and_german(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "cat@example.com")
    english = await client.get(page_path(rt, contact_id, topic="*"))
    assert "Unsubscribe from all marketing by email?" in english.text
    german = await client.get(page_path(rt, contact_id, topic="*"),
                              headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in german.text
    assert "Von aller Werbung per E-Mail abmelden?" in german.text
    assert ">Abmelden</button>" in german.text
    topic = await client.get(page_path(rt, contact_id, channel="sms"),
                             headers={"Accept-Language": "de"})
    assert "Von „Monthly &lt;Newsletter&gt;“ abmelden?" in topic.text
    assert "per SMS" in topic.text
