"""Global Privacy Control over HTTP on both engines: a form posted with `Sec-GPC: 1` (the
preference centre, the unsubscribe page, the confirmation page) opts the person out of every
sale_or_sharing topic with source `gpc` and leaves every other choice as it was; the GETs only
say so; the one-click POST of a mail client and `Sec-GPC: 0` do nothing of the kind;
`POST /v1/subscriptions` takes `"gpc": true`."""

from __future__ import annotations

import json

import pytest

from service.security.tokens import TokenData
from tests.gpc.helpers import (
    GPC,
    PARTNERS_OFF,
    decisions,
    gpc_events,
    seed,
    without_partners,
)
from tests.preferences.seed import csrf_token, reasons, snapshot

STOPPED = ["unsubscribed", "opted_out"]  # the send decision's reasons after a person's stop
FORM = "application/x-www-form-urlencoded"
NOTICE = "Your browser sent a Global Privacy Control signal"


@pytest.fixture
async def ann(db, rt) -> str:
    return await seed(db, rt)


async def test_preference_centre_save_with_gpc_switches_partners_off_only(client, db, rt,
                                                                          ann):
    url = f"/p/{rt.signer.sign('preferences', TokenData(ann, 'email', '*'))}"
    before, counts = await decisions(db, rt), await snapshot(db)
    page = await client.get(url, headers=GPC)
    assert NOTICE in page.text and "shared with partners" in page.text
    assert await snapshot(db) == counts  # a GET changes nothing
    plain = await client.get(url)
    assert NOTICE not in plain.text

    # the form as shown, submitted untouched; the person even ticks nothing new
    shown = ["channel.email", "topic.email.newsletter", "topic.email.offers",
             "topic.email.partners", "channel.sms", "topic.sms.offers", "topic.sms.partners"]
    checked = ["channel.email", "topic.email.newsletter", "topic.email.offers",
               "topic.email.partners", "channel.sms", "topic.sms.partners"]
    done = await client.post(url, headers={**GPC, "User-Agent": "GpcBrowser/1"}, data={
        "_csrf_token": csrf_token(page.text), "action": "save", "shown": shown,
        **{name: "on" for name in checked}})
    assert done.status_code == 200
    assert ("“Partner offers” switched off, as your browser&#39;s Global Privacy Control"
            in done.text)
    after = await decisions(db, rt)
    assert after[("email", "partners")] == after[("sms", "partners")] == STOPPED
    assert without_partners(after) == without_partners(before)
    assert await gpc_events(db) == PARTNERS_OFF
    event = await db.fetchrow("SELECT * FROM consent_event WHERE source = 'gpc' LIMIT 1")
    assert event["user_agent"] == "GpcBrowser/1"
    assert json.loads(event["detail"]) == {"signal": "Sec-GPC: 1", "form": "preference_centre"}
    # the archived partner list is not the person's any more: untouched
    assert await db.fetchval("SELECT COUNT(*) FROM preference WHERE topic = 'old-partners'") == 0

    # saved again: nothing new; switching partners back on is refused while the signal is on
    counts = await snapshot(db)
    again = await client.post(url, headers=GPC, data={
        "_csrf_token": csrf_token(page.text), "action": "save", "shown": shown,
        **{name: "on" for name in checked}})
    assert "Nothing changed." in again.text
    assert await snapshot(db) == counts
    # without the signal, the person's own explicit choice switches it back on
    on = await client.post(url, data={
        "_csrf_token": csrf_token(page.text), "action": "save", "shown": shown,
        **{name: "on" for name in checked}})
    assert "“Partner offers” switched on" in on.text
    assert await reasons(db, rt, "email", "ann@example.com", "partners") == []


async def test_a_gpc_value_other_than_1_is_no_signal(client, db, rt, ann):
    url = f"/p/{rt.signer.sign('preferences', TokenData(ann, 'email', '*'))}"
    page = await client.get(url, headers={"Sec-GPC": "0"})
    assert NOTICE not in page.text
    counts = await snapshot(db)
    done = await client.post(url, headers={"Sec-GPC": "0"}, data={
        "_csrf_token": csrf_token(page.text), "action": "save", "shown": []})
    assert "Nothing changed." in done.text
    assert await snapshot(db) == counts


async def test_unsubscribe_page_button_with_gpc(client, db, rt, ann):
    path = f"/u/{rt.signer.sign('unsubscribe', TokenData(ann, 'email', 'newsletter'))}"
    before, counts = await decisions(db, rt), await snapshot(db)
    page = await client.get(path, headers=GPC)
    assert NOTICE in page.text
    assert await snapshot(db) == counts

    done = await client.post(path, headers=GPC, data={"source": "page"})
    assert done.status_code == 200 and "Partner offers" in done.text
    after = await decisions(db, rt)
    assert after[("email", "newsletter")] == STOPPED
    assert after[("sms", "partners")] == STOPPED
    changed = {("email", "newsletter"), ("email", "partners"), ("sms", "partners")}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed}
    assert await gpc_events(db) == PARTNERS_OFF


async def test_a_mail_clients_one_click_is_not_a_browser_signal(client, db, rt, ann):
    path = f"/u/{rt.signer.sign('unsubscribe', TokenData(ann, 'email', 'newsletter'))}"
    done = await client.post(path, headers={**GPC, "Content-Type": FORM},
                             content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert await reasons(db, rt, "email", "ann@example.com", "newsletter") == STOPPED
    assert await reasons(db, rt, "email", "ann@example.com", "partners") == []
    assert await gpc_events(db) == []


async def consent_needed(client, admin_headers) -> None:
    """Newsletter and partners need a recorded opt-in from now on: a sign-up makes them pending."""
    for key in ("newsletter", "partners"):
        patched = await client.patch(f"/v1/topics/{key}", headers=admin_headers,
                                     json={"legal_basis": "consent"})
        assert patched.status_code == 200 and patched.json()["sale_or_sharing"] == (
            key == "partners")


async def test_confirmation_page_with_gpc(client, db, rt, ann, make_key, admin_headers):
    await consent_needed(client, admin_headers)
    writer = await make_key("contacts:write")
    signup = await client.post("/v1/subscriptions", headers=writer, json={
        "channel": "email", "address": "ann@example.com", "topics": ["newsletter", "partners"],
        "wording_version": "signup-v1"})
    assert signup.status_code == 202, signup.text
    assert signup.json()["pending"] == ["newsletter", "partners"]
    address_id = await db.fetchval("SELECT id FROM address WHERE channel = 'email'")
    url = "/c/" + rt.signer.sign("confirm", TokenData(ann, "email", "*", "",
                                                      extra=str(address_id)))
    counts = await snapshot(db)
    page = await client.get(url, headers=GPC)
    assert NOTICE in page.text and "Not confirmed: your browser&#39;s Global Privacy" in page.text
    assert await snapshot(db) == counts

    done = await client.post(url, headers=GPC, data={"_csrf_token": csrf_token(page.text),
                                                     "topic": ["newsletter", "partners"]})
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    assert "you are opted out of:" in done.text
    confirmed = await db.fetch("SELECT topic FROM consent_event WHERE action = 'confirmed'")
    assert [r["topic"] for r in confirmed] == ["newsletter"]
    assert await gpc_events(db) == PARTNERS_OFF
    assert await reasons(db, rt, "email", "ann@example.com", "partners") == [*STOPPED, "no_consent"]


async def test_signup_api_takes_gpc_true(client, db, rt, ann, make_key, admin_headers):
    await consent_needed(client, admin_headers)
    writer = await make_key("contacts:write")
    body = {"channel": "email", "address": "ann@example.com",
            "topics": ["newsletter", "partners"], "wording_version": "signup-v1"}
    counts = await snapshot(db)
    for bad in ("yes", 1, None):
        refused = await client.post("/v1/subscriptions", headers=writer,
                                    json={**body, "gpc": bad})
        assert refused.status_code in (400, 422), refused.text
        assert "gpc" in refused.text
    assert await snapshot(db) == counts

    before = await decisions(db, rt)
    response = await client.post("/v1/subscriptions", headers=writer, json={**body, "gpc": True})
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["pending"] == ["newsletter"] and answer["opted_out_by_gpc"] == ["partners"]
    assert await gpc_events(db) == PARTNERS_OFF
    after = await decisions(db, rt)
    # the sign-up's other choice is recorded as always (newsletter pending); the rest as it was
    assert await db.fetchval("SELECT status FROM preference WHERE topic = 'newsletter'") \
        == "pending"
    changed = {("email", "newsletter"), ("email", "partners"), ("sms", "partners")}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed}
