"""POST /u/{token}: RFC 8058 one-click and the page's button; committed before the 200,
idempotent, then blocked by the send decision; undo from the confirmation page."""

from __future__ import annotations

import pytest

from service.security.tokens import TokenData
from tests.unsubscribe.helpers import (
    GMAIL_HEADERS,
    ONE_CLICK_BODY,
    add_address,
    add_contact,
    add_topic,
    blocked_reasons,
    counts,
    form_value,
)


@pytest.fixture(autouse=True)
async def topics(db):
    await add_topic(db, "newsletter", "Newsletter", legal_basis="soft_opt_in")
    await add_topic(db, "offers", "Special offers", legal_basis="soft_opt_in")
    await add_topic(db, "receipts", "Receipts", transactional=True)


def unsubscribe_path(rt, contact_id, topic="newsletter", channel="email", campaign="spring"):
    return "/u/" + rt.signer.sign("unsubscribe", TokenData(contact_id, channel, topic, campaign))


async def test_gmail_one_click_request_blocks_the_address(client, db, rt):
    contact_id, key = await add_contact(db, rt, "email", "ann@example.com")
    assert await blocked_reasons(db, rt, "email", "ann@example.com", "newsletter") == []
    client.cookies.clear()
    response = await client.post(
        unsubscribe_path(rt, contact_id), content=ONE_CLICK_BODY,
        headers={**GMAIL_HEADERS, "User-Agent": "Mozilla/5.0 (compatible; Google-Mail)"},
        follow_redirects=False,
    )
    assert response.status_code == 200
    assert "location" not in response.headers
    assert "You are unsubscribed" in response.text
    # committed before the answer: an outside connection sees it now
    reasons = await blocked_reasons(db, rt, "email", "ann@example.com", "newsletter")
    assert "unsubscribed" in reasons and "opted_out" in reasons
    assert await blocked_reasons(db, rt, "email", "ann@example.com", "offers") == []
    assert await blocked_reasons(db, rt, "email", "ann@example.com", "receipts") == []
    event = await db.fetchrow("SELECT * FROM consent_event")
    assert (event["action"], event["source"], event["topic"], event["campaign"]) == (
        "opt_out", "one_click", "newsletter", "spring")
    assert event["user_agent"] == "Mozilla/5.0 (compatible; Google-Mail)"
    assert event["ip"]
    row = await db.fetchrow("SELECT * FROM suppression")
    assert (row["address_key"], row["topic"], row["reason"], row["source"]) == (
        key, "newsletter", "unsubscribed", "one_click")


async def test_multipart_one_click(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "bob@example.com")
    response = await client.post(unsubscribe_path(rt, contact_id),
                                 files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert "unsubscribed" in await blocked_reasons(db, rt, "email", "bob@example.com",
                                                   "newsletter")


async def test_whole_channel_link_covers_every_address_on_that_channel(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "cat@example.com")
    await add_address(db, rt, contact_id, "email", "cat@work.example.com")
    await add_address(db, rt, contact_id, "sms", "+447911123456")
    response = await client.post(unsubscribe_path(rt, contact_id, topic="*"),
                                 content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    assert response.status_code == 200
    for address in ("cat@example.com", "cat@work.example.com"):
        for topic in ("newsletter", "offers", None):
            assert "unsubscribed" in await blocked_reasons(db, rt, "email", address, topic)
        assert await blocked_reasons(db, rt, "email", address, "receipts") == []
    assert await blocked_reasons(db, rt, "sms", "+447911123456", None) == []
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE topic = ''") == 2
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == 1


async def test_repeats_write_nothing_more(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "dan@example.com")
    path = unsubscribe_path(rt, contact_id)
    first = await client.post(path, content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    after_first = await counts(db)
    for _ in range(5):
        again = await client.post(path, content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
        assert again.status_code == 200
    assert first.status_code == 200
    assert await counts(db) == after_first
    assert after_first["suppression"] == 1 and after_first["consent_event"] == 1


async def test_unknown_contact_gets_the_same_answer_and_nothing_is_written(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "eve@example.com")
    known = await client.post(unsubscribe_path(rt, contact_id, campaign=""),
                              content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    before = await counts(db)
    ghost = "0" * 32  # validly signed, but no such contact (erased, or never existed)
    unknown = await client.post(unsubscribe_path(rt, ghost, campaign=""),
                                content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    assert unknown.status_code == known.status_code == 200
    assert await counts(db) == before

    def visible(html: str) -> str:  # the page without the per-contact link
        return html.split('href="/p/')[0]

    assert visible(unknown.text) == visible(known.text)


async def test_page_button_then_undo(client, db, rt):
    await add_topic(db, "events", "Events", legal_basis="consent")
    contact_id, _ = await add_contact(db, rt, "email", "fay@example.com")
    path = unsubscribe_path(rt, contact_id, topic="events")
    page = await client.get(path)  # sets the CSRF cookie, changes nothing
    assert page.status_code == 200
    done = await client.post(path, data={"source": "page"})
    assert done.status_code == 200
    assert "Manage all your preferences" in done.text and "/p/" in done.text
    pref_token = done.text.split('href="/p/')[1].split('"')[0]
    assert rt.signer.verify("preferences", pref_token).contact_id == contact_id
    event = await db.fetchrow("SELECT source, action FROM consent_event")
    assert (event["source"], event["action"]) == ("unsubscribe_page", "opt_out")
    assert "unsubscribed" in await blocked_reasons(db, rt, "email", "fay@example.com", "events")

    # undo is CSRF-protected: without the form's token nothing happens
    before = await counts(db)
    refused = await client.post(path + "/undo", data={})
    assert refused.status_code == 403
    assert await counts(db) == before

    undone = await client.post(path + "/undo",
                               data={"_csrf_token": form_value(done.text, "_csrf_token")})
    assert undone.status_code == 200
    assert "You are subscribed again" in undone.text
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0
    last = await db.fetchrow("SELECT * FROM consent_event ORDER BY id DESC LIMIT 1")
    assert (last["action"], last["source"], last["wording_version"]) == (
        "opt_in", "unsubscribe_page", "unsubscribe-undo-v1")
    # the person asked to receive "Events" again: that is an opt-in, so it may be sent
    assert await blocked_reasons(db, rt, "email", "fay@example.com", "events") == []
    removed = await db.fetchval(
        "SELECT COUNT(*) FROM change_feed WHERE kind = 'suppression' AND op = 'removed'")
    assert removed == 1

    # a second undo, or an undo with nothing to undo, writes nothing
    before = await counts(db)
    again = await client.post(path + "/undo",
                              data={"_csrf_token": form_value(done.text, "_csrf_token")})
    assert again.status_code == 200
    assert await counts(db) == before


async def test_button_without_a_prior_visit_still_gets_a_working_undo(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "gus@example.com")
    path = unsubscribe_path(rt, contact_id)
    client.cookies.clear()
    done = await client.post(path, data={"source": "page"})
    assert done.status_code == 200 and "csrftoken" in done.cookies
    undone = await client.post(path + "/undo",
                               data={"_csrf_token": form_value(done.text, "_csrf_token")})
    assert undone.status_code == 200
    assert await blocked_reasons(db, rt, "email", "gus@example.com", "newsletter") == []


async def test_one_click_answer_offers_no_undo(client, db, rt):
    contact_id, _ = await add_contact(db, rt, "email", "hal@example.com")
    response = await client.post(unsubscribe_path(rt, contact_id), content=ONE_CLICK_BODY,
                                 headers=GMAIL_HEADERS)
    assert "/undo" not in response.text
    assert "set-cookie" not in response.headers


async def test_one_click_is_not_rate_limited_like_pages(database_url, tmp_path, db):
    """Mailbox providers post one-clicks from a few IPs: those must never get a 429."""
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, tmp_path, rate_limit_pages_per_minute=3))
    rt = app.state.rt
    contacts = [await add_contact(db, rt, "email", f"p{i}@example.com") for i in range(6)]
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as limited:
        posts = [await limited.post(unsubscribe_path(rt, cid), content=ONE_CLICK_BODY,
                                    headers=GMAIL_HEADERS) for cid, _ in contacts]
        pages = [await limited.get(unsubscribe_path(rt, cid)) for cid, _ in contacts]
    assert [r.status_code for r in posts] == [200] * 6
    assert pages[-1].status_code == 429  # the pages themselves stay limited
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 6
