"""Two people, Ann and Bob, signed up for the newsletter by double opt-in (pending), with every
kind of recipient token for each; and the state of one person, to show what a request changed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from service.security.tokens import TokenData
from tests.unsubscribe.helpers import counts  # noqa: F401  (re-exported for the tests)


@dataclass
class Person:
    email: str
    contact_id: str
    address_id: int
    key: str
    tokens: dict[str, str]


def tokens_for(rt, contact_id: str, address_id: int) -> dict[str, str]:
    sign = rt.signer.sign
    return {
        "unsubscribe": sign("unsubscribe", TokenData(contact_id, "email", "newsletter", "c1")),
        "preferences": sign("preferences", TokenData(contact_id, "email", "*")),
        "confirm": sign("confirm", TokenData(contact_id, "email", "*", "", str(address_id))),
        "download": sign("privacy", TokenData(contact_id, "email", "*", "", "download")),
        "delete": sign("privacy", TokenData(contact_id, "email", "*", "", "delete")),
    }


def page_urls(tokens: dict[str, str]) -> list[str]:
    """Every recipient page a person's links open (GETs)."""
    return [f"/u/{tokens['unsubscribe']}", f"/p/{tokens['preferences']}",
            f"/p/{tokens['preferences']}/data", f"/c/{tokens['confirm']}",
            f"/privacy/{tokens['download']}", f"/privacy/{tokens['delete']}", "/p"]


@pytest.fixture
async def people(client, db, rt, admin_headers) -> tuple[Person, Person]:
    topic = {"key": "newsletter", "name": "Newsletter", "channels": ["email"],
             "legal_basis": "consent", "transactional": False}
    assert (await client.post("/v1/topics", headers=admin_headers, json=topic)).status_code == 201
    found = []
    for email in ("ann@example.com", "bob@example.com"):
        response = await client.post("/v1/subscriptions", headers=admin_headers, json={
            "channel": "email", "address": email, "topics": ["newsletter"],
            "wording_version": "signup-v1"})
        assert response.status_code == 202, response.text
        contact_id = response.json()["contact_id"]
        row = await db.fetchrow("SELECT id, address_key FROM address WHERE contact_id = $1",
                                contact_id)
        found.append(Person(email, contact_id, row["id"], row["address_key"],
                            tokens_for(rt, contact_id, row["id"])))
    return found[0], found[1]


async def state_of(db, person: Person) -> dict:
    """Everything about one person a recipient page could change."""
    async def rows(sql: str, *args) -> list[tuple]:
        return sorted(tuple(str(v) for v in r) for r in await db.fetch(sql, *args))

    return {
        "contact": await rows("SELECT id, external_ref FROM contact WHERE id = $1",
                              person.contact_id),
        "address": await rows("SELECT id, normalized FROM address WHERE contact_id = $1",
                              person.contact_id),
        "preference": await rows("SELECT channel, topic, status FROM preference"
                                 " WHERE contact_id = $1", person.contact_id),
        "suppression": await rows("SELECT channel, topic, reason FROM suppression"
                                  " WHERE address_key = $1", person.key),
        "ledger": await rows("SELECT id, action, source FROM consent_event"
                             " WHERE contact_id = $1", person.contact_id),
    }


async def csrf_form(client, page_url: str, post_url: str, data: dict):
    """Load a page (for the CSRF cookie and its form token), then post the form."""
    page = await client.get(page_url)
    token = client.cookies.get("csrftoken")
    assert token, (page_url, page.status_code)
    return await client.post(post_url, data={**data, "_csrf_token": token})
