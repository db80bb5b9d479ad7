"""Topics that offer frequencies, people and keys, written through the API."""

from __future__ import annotations

import pytest

TOPICS = [
    {"key": "newsletter", "name": "Newsletter", "channels": ["email", "sms"],
     "legal_basis": "soft_opt_in", "frequencies": ["immediate", "weekly", "monthly"]},
    {"key": "offers", "name": "Offers", "channels": ["email"], "legal_basis": "soft_opt_in",
     "frequencies": ["immediate", "daily", "weekly"]},
    {"key": "account", "name": "Account", "channels": ["email"],
     "legal_basis": "legitimate_interest", "transactional": True},
]


@pytest.fixture
async def topics(client, admin_headers) -> None:
    for topic in TOPICS:
        response = await client.post("/v1/topics", headers=admin_headers, json=topic)
        assert response.status_code == 201, response.text


@pytest.fixture
async def mailer(make_key) -> dict[str, str]:
    """A sending system's key: it checks before sending and records what it sent."""
    return await make_key("suppressions:read")


@pytest.fixture
async def crm(make_key) -> dict[str, str]:
    return await make_key("contacts:read", "contacts:write")


async def new_contact(client, crm, address: str) -> str:
    response = await client.post("/v1/contacts", headers=crm, json={
        "addresses": [{"channel": "email", "address": address}]})
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


async def set_prefs(client, crm, contact_id: str, *items: dict):
    return await client.put(f"/v1/contacts/{contact_id}/preferences", headers=crm,
                            json={"preferences": list(items)})
