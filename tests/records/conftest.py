"""Shared set-up for the records tests: topics of each legal basis, a registered wording, and
a person driven through the API (opt-in, opt-out, double opt-in sign-up)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

WORDING = "Yes, send me the monthly newsletter. I can unsubscribe at any time."
OFFERS_WORDING = "Tell me about offers. Unsubscribe at any time."
ANN = "ann@example.com"


@dataclass
class Ann:
    contact_id: str
    headers: dict[str, str]


async def api(client, method: str, url: str, headers: dict, **kwargs):
    response = await client.request(method, url, headers=headers, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


@pytest.fixture
async def ann(client, admin_headers) -> Ann:
    """Ann: newsletter (consent) opted in with signup-v1, then offers (legitimate interest)
    opted in and out; a pending double opt-in sign-up to events; an account topic."""
    for body in (
        {"key": "newsletter", "name": "Newsletter", "description": "Monthly news",
         "channels": ["email", "sms"], "legal_basis": "consent"},
        {"key": "offers", "name": "Offers", "channels": ["email"],
         "legal_basis": "legitimate_interest"},
        {"key": "events", "name": "Events", "channels": ["email"], "legal_basis": "consent"},
        {"key": "account", "name": "Account", "channels": ["email"],
         "legal_basis": "legitimate_interest", "transactional": True},
    ):
        await api(client, "POST", "/v1/topics", admin_headers, json=body)
    for key, text in (("signup-v1", WORDING), ("offers-v2", OFFERS_WORDING)):
        await api(client, "POST", "/v1/wording-versions", admin_headers,
                  json={"key": key, "text": text, "language": "en"})
    made = await api(client, "POST", "/v1/contacts", admin_headers,
                     json={"addresses": [{"channel": "email", "address": ANN}]})
    url = f"/v1/contacts/{made['id']}/preferences"
    await api(client, "PUT", url, admin_headers, json={
        "preferences": [{"channel": "email", "topic": "newsletter", "status": "opted_in"}],
        "source": "preference_centre", "wording_version": "signup-v1",
        "campaign": "2026-spring"})
    for status in ("opted_in", "opted_out"):
        await api(client, "PUT", url, admin_headers, json={
            "preferences": [{"channel": "email", "topic": "offers", "status": status}],
            "source": "api", "wording_version": "offers-v2"})
    await api(client, "POST", "/v1/subscriptions", admin_headers, json={
        "channel": "email", "address": ANN, "topics": ["events"],
        "wording_version": "signup-v1", "ip": "203.0.113.9", "user_agent": "SecretBrowser/1"})
    return Ann(made["id"], admin_headers)
