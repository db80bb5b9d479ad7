"""Shared set-up for the privacy tests: a person with two addresses, consent events carrying an
IP and a user agent, suppressions and outbox jobs; and a scan of every table in the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from service.consent.ledger import Proof, set_preference
from service.contacts.store import add_address, ensure_contact_for_address
from service.outbox import enqueue
from service.suppression.store import add_suppression

IP = "203.0.113.77"
UA = "Mozilla/5.0 (PrivacyTestBrowser 9.9; Ann's laptop) Gecko/20100101"
EMAIL = "Ann.Privacy@Example.COM"
PHONE = "+44 7911 123456"
WORDING = "Yes, send me the monthly newsletter. I can unsubscribe at any time."


@dataclass
class Person:
    contact_id: str
    email: str  # normalized
    email_key: str
    phone: str  # normalized (E.164)
    phone_key: str
    events: int


async def create_topics(client, admin_headers) -> None:
    for body in (
        {"key": "newsletter", "name": "Newsletter", "channels": ["email", "sms"],
         "legal_basis": "consent", "transactional": False},
        {"key": "offers", "name": "Offers", "channels": ["email", "sms"],
         "legal_basis": "legitimate_interest", "transactional": False},
        {"key": "account", "name": "Account", "channels": ["email", "sms"],
         "legal_basis": "legitimate_interest", "transactional": True},
    ):
        response = await client.post("/v1/topics", headers=admin_headers, json=body)
        assert response.status_code == 201, response.text


async def make_person(db, rt, *, email: str = EMAIL, phone: str | None = PHONE, ip: str = IP,
                      ua: str = UA, when: datetime | None = None) -> Person:
    """A contact opted in to the newsletter (with wording), out of offers, paused, with IP and
    user agent on each event; plus a pending and a sent email to it and a webhook job naming
    it. Times are `when` (default now)."""
    when = when or datetime.now(UTC)
    email_norm, email_key = rt.parse_address("email", email)
    phone_norm = phone_key = ""
    proof = Proof(source="preference_centre", ip=ip, user_agent=ua, wording_version="signup-v1",
                  campaign="2026-spring")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO wording_version (key, text, language, created_at)"
                         " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, key) DO NOTHING",
                         "signup-v1", WORDING, "en", when)
        cid, _ = await ensure_contact_for_address(tx, channel="email", normalized=email_norm,
                                                  address_key=email_key, given=email, now=when)
        if phone:
            phone_norm, phone_key = rt.parse_address("sms", phone)
            await add_address(tx, contact_id=cid, channel="sms", normalized=phone_norm,
                              address_key=phone_key, given=phone, now=when)
        steps = [("email", email_key, "newsletter", "pending"),
                 ("email", email_key, "newsletter", "confirmed"),
                 ("email", email_key, "offers", "opt_out")]
        if phone:
            steps.append(("sms", phone_key, "newsletter", "opt_in"))
        for channel, key, topic, action in steps:
            assert await set_preference(tx, contact_id=cid, channel=channel, topic=topic,
                                        action=action, proof=proof, address_key=key, now=when)
        assert await set_preference(tx, contact_id=cid, channel="email", topic="offers",
                                    action="paused", proof=proof, address_key=email_key,
                                    paused_until=when + timedelta(days=30), now=when)
        await add_suppression(tx, channel="email", address_key=email_key, reason="complaint",
                              source="esp_webhook", topic="offers", contact_id=cid, now=when)
        await enqueue(tx, "email", {"to": email_norm, "template": "confirm", "lang": "en",
                                    "context": {"url": "https://x/c/1"}, "list_unsubscribe": None},
                      now=when)
        await enqueue(tx, "email", {"to": email, "template": "preferences_link", "lang": "en",
                                    "context": {}, "list_unsubscribe": None}, now=when)
        await tx.execute("UPDATE outbox SET status = 'sent', sent_at = $1 WHERE id ="
                         " (SELECT MAX(id) FROM outbox)", when)
        await enqueue(tx, "webhook", {"url": "https://crm.example.net/hook", "event": {
            "note": f"changed by {email_norm.lower()} from {ip}"}}, now=when)
    return Person(cid, email_norm, email_key, phone_norm, phone_key, len(steps) + 1)


@pytest.fixture
async def topics(client, admin_headers) -> None:
    await create_topics(client, admin_headers)


@pytest.fixture
async def person(db, rt, topics) -> Person:
    return await make_person(db, rt)


async def table_names(db) -> list[str]:
    """Every table, from the database's own catalogue."""
    if db.is_sqlite:
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'"
                              " AND name NOT LIKE 'sqlite_%'")
    else:
        rows = await db.fetch("SELECT table_name FROM information_schema.tables"
                              " WHERE table_schema = current_schema()"
                              " AND table_type = 'BASE TABLE'")
    return sorted(r[0] for r in rows)


async def find_everywhere(db, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every cell of every table holding a needle in any case,
    plainly or JSON-escaped."""
    forms = {n: {n.casefold(), json.dumps(n)[1:-1].casefold()} for n in needles}
    found = []
    for table in await table_names(db):
        for row in await db.fetch(f'SELECT * FROM "{table}"'):
            for column in row.keys():
                value = row[column]
                if value is None:
                    continue
                text = (value.decode(errors="replace") if isinstance(value, bytes)
                        else str(value)).casefold()
                found += [(table, column, n) for n, fs in forms.items()
                          if any(f in text for f in fs)]
    return found


async def csrf_post(client, page_url: str, post_url: str, data: dict):
    """Load a page (for the CSRF cookie), then post its form."""
    page = await client.get(page_url)
    token = client.cookies.get("csrftoken")
    assert token, page.status_code
    return await client.post(post_url, data={**data, "_csrf_token": token})
