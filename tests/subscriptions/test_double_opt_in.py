"""Double opt-in: sign-up, confirmation email over real SMTP, confirm page, expiry, erasure."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from service import outbox
from service.mail.senders import SENDERS
from service.suppression.store import add_suppression
from tests.mail.smtp import body
from tests.preferences.seed import add_contact, add_topic, count, csrf_token, reasons, snapshot

SIGNUP = {"channel": "email", "address": "Ann@Example.com", "topics": ["newsletter", "events"],
          "wording_version": "signup-v3", "ip": "203.0.113.7", "user_agent": "FormBrowser/1"}


@pytest.fixture
async def topics(db):
    await add_topic(db, "newsletter", "Newsletter", ["email"], "consent")
    await add_topic(db, "events", "Events", ["email"], "consent")
    await add_topic(db, "offers", "Offers", ["email"], "soft_opt_in")
    await add_topic(db, "account", "Account notices", ["email"], transactional=True)
    await add_topic(db, "calls", "Calls", ["phone"], "consent")


@pytest.fixture
async def writer(make_key):
    return await make_key("contacts:write")


async def confirm_link(worker, smtp, address: str) -> str:
    await outbox.run_once(worker, SENDERS)
    [message] = smtp.to(address)
    return re.search(r"https://prefs\.example\.com(/c/\S+)", body(message, "plain")).group(1)


async def test_sign_up_confirm_by_email_and_page(client, db, rt, topics, writer, worker, smtp):
    response = await client.post("/v1/subscriptions", json=SIGNUP, headers=writer)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["pending"] == ["newsletter", "events"]
    assert answer["confirmation_email"] == "queued"
    pending = await db.fetch("SELECT * FROM consent_event ORDER BY id")
    assert [(e["topic"], e["action"]) for e in pending] == [("newsletter", "pending"),
                                                            ("events", "pending")]
    assert {(e["wording_version"], e["ip"], e["user_agent"], e["source"]) for e in pending} == {
        ("signup-v3", "203.0.113.7", "FormBrowser/1", "double_opt_in")}
    assert pending[0]["api_key_id"] is not None
    assert await reasons(db, rt, "email", "ann@example.com", "newsletter") == ["no_consent"]

    url = await confirm_link(worker, smtp, "Ann@example.com")
    [message] = smtp.to("Ann@example.com")
    assert message["Subject"] == "Please confirm your subscription to Example Ltd"
    assert "Newsletter" in body(message, "html") and "Events" in body(message, "html")

    before = await snapshot(db)
    page = await client.get(url)  # a mail scanner fetching the link changes nothing
    assert page.status_code == 200 and "Yes, subscribe me" in page.text
    assert "Newsletter" in page.text and "Events" in page.text
    assert await snapshot(db) == before

    refused = await client.post(url, data={"topic": ["newsletter", "events"]})
    assert refused.status_code == 403
    assert await snapshot(db) == before

    done = await client.post(url, data={"_csrf_token": csrf_token(page.text),
                                        "topic": ["newsletter", "events"]},
                             headers={"User-Agent": "Clicker/2"})
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    confirmed = await db.fetch("SELECT * FROM consent_event WHERE action = 'confirmed'")
    assert sorted(e["topic"] for e in confirmed) == ["events", "newsletter"]
    for event in confirmed:
        assert event["user_agent"] == "Clicker/2" and event["ip"] and event["occurred_at"]
        assert event["wording_version"] == "signup-v3"  # what the person signed up to
    assert await reasons(db, rt, "email", "ann@example.com", "newsletter") == []
    again = await client.post(url, data={"_csrf_token": csrf_token(page.text),
                                         "topic": ["newsletter"]})
    assert "Nothing to confirm" in again.text
    assert await count(db, "consent_event") == 4


@pytest.mark.parametrize("change, field", [
    ({"topics": ["nope"]}, "topics"),
    ({"topics": ["calls"]}, "topics"),
    ({"topics": ["account"]}, "topics"),
    ({"topics": []}, "topics"),
    ({"address": "not-an-address"}, "address"),
    ({"channel": "sms"}, "channel"),
    ({"wording_version": ""}, "wording_version"),
    ({"source": "made_up"}, "source"),
    ({"ip": "999.1.1.1"}, "ip"),
    ({"surprise": 1}, "surprise"),
])
async def test_bad_sign_ups_are_422_and_write_nothing(client, db, topics, writer, change,
                                                      field):
    before = await snapshot(db)
    response = await client.post("/v1/subscriptions", json={**SIGNUP, **change}, headers=writer)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await snapshot(db) == before


async def test_needs_the_contacts_write_scope(client, topics, make_key):
    reader = await make_key("contacts:read")
    response = await client.post("/v1/subscriptions", json=SIGNUP, headers=reader)
    assert response.status_code == 403


async def test_an_existing_opt_in_is_not_downgraded(client, db, rt, topics, writer, worker,
                                                    smtp):
    await client.post("/v1/subscriptions", json={**SIGNUP, "topics": ["newsletter"]},
                      headers=writer)
    url = await confirm_link(worker, smtp, "Ann@example.com")
    page = await client.get(url)
    await client.post(url, data={"_csrf_token": csrf_token(page.text), "topic": "newsletter"})
    again = await client.post("/v1/subscriptions", json=SIGNUP, headers=writer)
    assert again.json()["already_subscribed"] == ["newsletter"]
    assert again.json()["pending"] == ["events"]
    assert await reasons(db, rt, "email", "ann@example.com", "newsletter") == []


def expired_token(settings, payload: list[str]) -> str:
    """A genuine confirmation token signed eight days ago."""

    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 86400

    serializer = URLSafeTimedSerializer(settings.secret_keys, salt="confirm",
                                        signer=EightDaysAgo)
    return serializer.dumps(payload)


async def test_expired_link_offers_a_new_one(client, db, rt, settings, topics, worker, smtp):
    from service.consent.ledger import Proof, set_preference

    contact_id = await add_contact(db, rt, [("email", "bob@example.com")])
    address_id = await db.fetchval("SELECT id FROM address")
    async with db.transaction() as tx:
        await set_preference(tx, contact_id=contact_id, channel="email", topic="newsletter",
                             action="pending", proof=Proof("double_opt_in",
                                                           wording_version="v1"))
    old = expired_token(settings, [contact_id, "email", "*", "", str(address_id)])
    before = await snapshot(db)
    page = await client.get(f"/c/{old}")
    assert page.status_code == 410 and "This confirmation link has expired" in page.text
    posted = await client.post(f"/c/{old}", data={"_csrf_token": csrf_token(page.text),
                                                  "topic": "newsletter"})
    assert posted.status_code == 410
    assert await snapshot(db) == before
    assert await reasons(db, rt, "email", "bob@example.com", "newsletter") == ["no_consent"]

    renewed = await client.post(f"/c/{old}/renew", data={"_csrf_token": csrf_token(page.text)})
    assert renewed.status_code == 200 and "new confirmation link" in renewed.text
    url = await confirm_link(worker, smtp, "bob@example.com")
    fresh = await client.get(url)
    await client.post(url, data={"_csrf_token": csrf_token(fresh.text), "topic": "newsletter"})
    assert await reasons(db, rt, "email", "bob@example.com", "newsletter") == []


async def test_forged_confirmation_links_are_refused(client, db, rt):
    before = await snapshot(db)
    assert (await client.get("/c/not-a-token")).status_code == 400
    page = await client.get("/p")
    renew = await client.post("/c/not-a-token/renew",
                              data={"_csrf_token": csrf_token(page.text)})
    assert renew.status_code == 400
    assert await snapshot(db) == before


async def test_erased_address_comes_back_only_by_double_opt_in(client, db, rt, topics, writer,
                                                                worker, smtp):
    _, key = rt.parse_address("email", "cleo@example.com")
    async with db.transaction() as tx:
        await add_suppression(tx, channel="email", address_key=key, reason="erased",
                              source="admin")
    answer = await client.post("/v1/subscriptions", headers=writer,
                               json={**SIGNUP, "address": "cleo@example.com"})
    assert answer.json()["confirmation_email"] == "queued"
    assert await reasons(db, rt, "email", "cleo@example.com", "newsletter") == [
        "erased", "no_consent"]
    url = await confirm_link(worker, smtp, "cleo@example.com")
    page = await client.get(url)
    await client.post(url, data={"_csrf_token": csrf_token(page.text), "topic": "newsletter"})
    assert await reasons(db, rt, "email", "cleo@example.com", "newsletter") == []
    # only what was confirmed: a topic needing no consent stays off, service mail flows
    assert "opted_out" in await reasons(db, rt, "email", "cleo@example.com", "offers")
    assert "no_consent" in await reasons(db, rt, "email", "cleo@example.com", "events")
    assert await reasons(db, rt, "email", "cleo@example.com", "account") == []
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE reason = 'erased'") == 0
    lifted = await db.fetchrow("SELECT * FROM consent_event WHERE detail IS NOT NULL")
    assert lifted["action"] == "confirmed" and "erased" in str(lifted["detail"])
    feed = await db.fetchrow("SELECT op, value, source FROM change_feed WHERE value = 'erased'"
                             " AND op = 'removed'")
    assert feed["source"] == "double_opt_in"


async def test_hard_bounced_address_gets_no_confirmation_email(client, db, rt, topics, writer):
    _, key = rt.parse_address("email", "dan@example.com")
    async with db.transaction() as tx:
        await add_suppression(tx, channel="email", address_key=key, reason="hard_bounce",
                              source="esp_webhook")
    answer = await client.post("/v1/subscriptions", headers=writer,
                               json={**SIGNUP, "address": "dan@example.com"})
    assert answer.json()["confirmation_email"] == "undeliverable"
    assert await count(db, "outbox") == 0


async def test_confirmation_in_german(client, db, topics, writer, worker, smtp):
    await client.post("/v1/subscriptions", headers=writer, json={**SIGNUP, "lang": "de"})
    url = await confirm_link(worker, smtp, "Ann@example.com")
    [message] = smtp.to("Ann@example.com")
    assert message["Subject"] == "Bitte bestätigen Sie Ihr Abonnement bei Example Ltd"
    page = await client.get(url, headers={"Accept-Language": "de"})
    assert "Ja, ich möchte das abonnieren" in page.text
