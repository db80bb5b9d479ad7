"""The preference centre over HTTP (CSRF, semantics, ledger proof), on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.security.tokens import TokenData
from service.suppression.store import add_suppression
from tests.preferences.seed import (
    add_contact,
    add_topic,
    count,
    csrf_token,
    reasons,
    snapshot,
)

ANN = "ann@example.com"
ANN_WORK = "ann@work.example"
PHONE = "+44 20 7946 0123"


@pytest.fixture
async def person(db, rt):
    """Ann: two email addresses and a mobile; topics on email and sms; a token to her page."""
    await add_topic(db, "newsletter", "Newsletter", ["email"], "soft_opt_in",
                    description="Our monthly news")
    await add_topic(db, "offers", "Offers", ["email", "sms"], "legitimate_interest")
    await add_topic(db, "events", "Events", ["email"], "consent")
    await add_topic(db, "account", "Account notices", ["email", "sms"], transactional=True)
    await add_topic(db, "old", "Old stuff", ["email"], archived=True)
    contact_id = await add_contact(db, rt, [("email", ANN), ("email", ANN_WORK),
                                            ("sms", PHONE)])
    token = rt.signer.sign("preferences", TokenData(contact_id, "email", "*", "spring"))
    return {"id": contact_id, "url": f"/p/{token}"}


async def open_page(client, url: str, lang: str = "en") -> tuple[str, str]:
    page = await client.get(url, headers={"Accept-Language": lang})
    assert page.status_code == 200
    return page.text, csrf_token(page.text)


def form(csrf: str, shown: list[str], checked: list[str], **extra) -> dict:
    return {"_csrf_token": csrf, "action": "save", "shown": shown,
            **{name: "on" for name in checked}, **extra}


ALL_SHOWN = ["channel.email", "topic.email.newsletter", "topic.email.offers",
             "topic.email.events", "channel.sms", "topic.sms.offers"]


async def test_page_shows_channels_topics_and_changes_nothing(client, db, person):
    before = await snapshot(db)
    html, _ = await open_page(client, person["url"])
    assert "Text messages (SMS)" in html and "a…@example.com" in html and "…123" in html
    assert 'name="topic.email.newsletter" value="on" checked' in html
    assert 'name="topic.email.events" value="on">' in html  # consent topic, no opt-in yet
    assert "Account notices" in html and "always sent, cannot be switched off" in html
    assert "Old stuff" not in html  # archived
    assert f'href="{person["url"]}/data"' in html
    assert await snapshot(db) == before


async def test_security_headers_on_the_personal_page(client, person):
    page = await client.get(person["url"])
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp.replace("default-src", "")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in page.text and "style=" not in page.text


async def test_post_without_csrf_token_is_403_and_changes_nothing(client, db, person):
    await open_page(client, person["url"])  # has the cookie, but sends no token
    before = await snapshot(db)
    response = await client.post(person["url"], data={"action": "unsubscribe_all"})
    assert response.status_code == 403
    forged = await client.post(person["url"], data={"action": "unsubscribe_all",
                                                    "_csrf_token": "x" * 128})
    assert forged.status_code == 403
    assert await snapshot(db) == before
    assert await reasons(db, client.app.state.rt, "email", ANN, "newsletter") == []


async def test_topic_off_suppresses_every_address_and_records_proof(client, db, rt, person):
    _, csrf = await open_page(client, person["url"])
    checked = [s for s in ALL_SHOWN if s not in ("topic.email.newsletter", "topic.email.events")]
    response = await client.post(person["url"], data=form(csrf, ALL_SHOWN, checked),
                                 headers={"User-Agent": "Firefox/142"})
    assert response.status_code == 200
    assert "Email: “Newsletter” switched off" in response.text
    for address in (ANN, ANN_WORK):
        assert await reasons(db, rt, "email", address, "newsletter") == ["unsubscribed",
                                                                          "opted_out"]
        assert await reasons(db, rt, "email", address, "offers") == []
    rows = await db.fetch("SELECT topic, reason, source FROM suppression")
    assert sorted(tuple(r) for r in rows) == [("newsletter", "unsubscribed",
                                               "preference_centre")] * 2
    event = await db.fetchrow("SELECT * FROM consent_event")
    assert (event["action"], event["topic"], event["source"]) == ("opt_out", "newsletter",
                                                                  "preference_centre")
    assert event["user_agent"] == "Firefox/142" and event["ip"]
    assert event["campaign"] == "spring" and event["wording_version"]
    # the same form again changes nothing
    again = await client.post(person["url"], data=form(csrf, ALL_SHOWN, checked))
    assert "Nothing changed." in again.text
    assert await count(db, "consent_event") == 1


async def test_topic_back_on_lifts_only_unsubscribed(client, db, rt, person):
    _, csrf = await open_page(client, person["url"])
    without = [s for s in ALL_SHOWN if s not in ("topic.email.offers", "topic.email.events")]
    await client.post(person["url"], data=form(csrf, ALL_SHOWN, without))
    _, key = rt.parse_address("email", ANN_WORK)
    async with db.transaction() as tx:
        await add_suppression(tx, channel="email", address_key=key, reason="complaint",
                              source="esp_webhook", topic="offers")
    page = await client.post(person["url"], data=form(csrf, ALL_SHOWN,
                                                      without + ["topic.email.offers"]))
    assert "Email: “Offers” switched on" in page.text
    assert await reasons(db, rt, "email", ANN, "offers") == []
    assert await reasons(db, rt, "email", ANN_WORK, "offers") == ["complaint"]
    assert "You reported one of our messages as spam" in page.text
    actions = [r["action"] for r in await db.fetch("SELECT action FROM consent_event ORDER BY id")]
    assert actions == ["opt_out", "opt_in"]


async def test_consent_topic_on_records_opt_in(client, db, rt, person):
    assert await reasons(db, rt, "email", ANN, "events") == ["no_consent"]
    _, csrf = await open_page(client, person["url"])
    checked = [s for s in ALL_SHOWN if s != "topic.email.events"] + ["topic.email.events"]
    await client.post(person["url"], data=form(csrf, ALL_SHOWN, checked))
    assert await reasons(db, rt, "email", ANN, "events") == []


async def test_channel_off_blocks_all_marketing_there_but_not_service_mail(client, db, rt,
                                                                           person):
    _, csrf = await open_page(client, person["url"])
    checked = [s for s in ALL_SHOWN if s != "channel.sms" and s != "topic.email.events"]
    page = await client.post(person["url"], data=form(csrf, ALL_SHOWN, checked))
    assert "Text messages (SMS): all marketing switched off" in page.text
    assert await reasons(db, rt, "sms", PHONE, "offers") == ["unsubscribed", "opted_out"]
    assert await reasons(db, rt, "sms", PHONE, None) == ["unsubscribed", "opted_out"]
    assert await reasons(db, rt, "sms", PHONE, "account") == []
    assert await reasons(db, rt, "email", ANN, "offers") == []
    assert 'name="channel.sms" value="on" aria' in page.text  # shown off now


async def test_unsubscribe_from_all_and_pause(client, db, rt, person):
    _, csrf = await open_page(client, person["url"])
    page = await client.post(person["url"], data={"_csrf_token": csrf,
                                                  "action": "unsubscribe_all"})
    assert "Email: all marketing switched off" in page.text
    assert "Text messages (SMS): all marketing switched off" in page.text
    for channel, address in (("email", ANN), ("email", ANN_WORK), ("sms", PHONE)):
        assert "opted_out" in await reasons(db, rt, channel, address, "offers")
        assert await reasons(db, rt, channel, address, "account") == []
    # pausing is recorded on every channel, and resuming lifts it
    _, csrf = await open_page(client, person["url"])
    paused = await client.post(person["url"], data=form(csrf, [], [], pause="30"))
    assert "All marketing paused until" in paused.text
    assert "paused" in await reasons(db, rt, "sms", PHONE, "offers")
    until = await db.fetchval("SELECT MAX(paused_until) FROM preference")
    days = (until if isinstance(until, datetime) else datetime.fromisoformat(until)) \
        - datetime.now(UTC)
    assert 29 <= days.days <= 30
    resumed = await client.post(person["url"], data=form(csrf, [], [], pause="resume"))
    assert "Marketing resumed" in resumed.text
    assert "paused" not in await reasons(db, rt, "sms", PHONE, "offers")


async def test_a_topic_not_on_the_page_is_never_switched_off(client, db, rt, person):
    _, csrf = await open_page(client, person["url"])
    await add_topic(db, "partners", "Partner offers", ["email"], "soft_opt_in")
    # the form of the page shown before "partners" existed
    page = await client.post(person["url"], data=form(csrf, ALL_SHOWN,
                                                      [s for s in ALL_SHOWN
                                                       if s != "topic.email.events"]))
    assert "Nothing changed." in page.text
    assert await count(db, "consent_event") == 0


async def test_german_page(client, person):
    html, _ = await open_page(client, person["url"], lang="de-DE,de;q=0.9,en;q=0.5")
    assert '<html lang="de">' in html
    assert "Ihre Kommunikationseinstellungen" in html and "Meine Auswahl speichern" in html
    assert "Textnachrichten (SMS)" in html


async def test_bad_and_orphaned_links_get_a_page_and_write_nothing(client, db, rt, person):
    before = await snapshot(db)
    bad = await client.get(person["url"][:-6])
    assert bad.status_code == 400 and "This link does not work" in bad.text
    foreign = rt.signer.sign("unsubscribe", TokenData(person["id"], "email", "*"))
    assert (await client.get(f"/p/{foreign}")).status_code == 400
    gone = rt.signer.sign("preferences", TokenData("no-such-contact", "email", "*"))
    page = await client.get(f"/p/{gone}")
    assert page.status_code == 404 and "We hold no preferences" in page.text
    _, csrf = await open_page(client, person["url"])
    posted = await client.post(f"/p/{gone}", data={"_csrf_token": csrf,
                                                   "action": "unsubscribe_all"})
    assert posted.status_code == 404
    assert await snapshot(db) == before
