"""A small world of topics, contacts, preferences and suppressions, written through the API
(topics, contacts, preferences) and the shared writers (suppressions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.consent.ledger import Proof, set_preference
from service.contacts.store import ensure_contact_for_address
from service.suppression.store import add_suppression

TOPICS = [
    {"key": "newsletter", "name": "Newsletter", "channels": ["email", "sms"],
     "legal_basis": "consent", "transactional": False},
    {"key": "offers", "name": "Offers", "channels": ["email", "sms", "phone", "post"],
     "legal_basis": "soft_opt_in", "transactional": False},
    {"key": "account", "name": "Account", "channels": ["email", "sms"],
     "legal_basis": "legitimate_interest", "transactional": True},
]


class World:
    def __init__(self, client, db, rt, admin_headers):
        self.client, self.db, self.rt, self.admin = client, db, rt, admin_headers

    def key(self, channel: str, address: str) -> str:
        return self.rt.parse_address(channel, address)[1]

    async def topics(self) -> None:
        for topic in TOPICS:
            response = await self.client.post("/v1/topics", headers=self.admin, json=topic)
            assert response.status_code == 201, response.text

    async def contact(self, address: str, channel: str = "email") -> str:
        normalized, key = self.rt.parse_address(channel, address)
        async with self.db.transaction() as tx:
            contact_id, _ = await ensure_contact_for_address(
                tx, channel=channel, normalized=normalized, address_key=key, given=address)
        return contact_id

    async def suppress(self, address: str, reason: str, channel: str = "email",
                       topic: str | None = None) -> None:
        async with self.db.transaction() as tx:
            await add_suppression(tx, channel=channel, address_key=self.key(channel, address),
                                  reason=reason, source="test", topic=topic)

    async def prefer(self, contact_id: str, action: str, topic: str | None = None,
                     channel: str = "email", paused_days: int | None = None) -> None:
        until = datetime.now(UTC) + timedelta(days=paused_days) if paused_days else None
        async with self.db.transaction() as tx:
            await set_preference(tx, contact_id=contact_id, channel=channel, topic=topic,
                                 action=action, proof=Proof(source="api"), paused_until=until)

    async def restrict(self, contact_id: str) -> None:
        await self.db.execute("UPDATE contact SET restricted = $1 WHERE id = $2", True,
                              contact_id)


@pytest.fixture
async def world(client, db, rt, admin_headers) -> World:
    w = World(client, db, rt, admin_headers)
    await w.topics()
    return w


@pytest.fixture
async def reader(make_key) -> dict[str, str]:
    return await make_key("suppressions:read")


@pytest.fixture
async def writer(make_key) -> dict[str, str]:
    return await make_key("suppressions:read", "suppressions:write")
