"""Writing real rows through the ledger and suppression writers, for the decision tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.consent.ledger import Proof, set_preference
from service.contacts.store import ensure_contact_for_address
from service.suppression.store import add_suppression
from service.topics.cache import TopicInfo


def topic(key: str, legal_basis: str = "consent", transactional: bool = False,
          channels: tuple[str, ...] = ("email", "sms")) -> TopicInfo:
    return TopicInfo(key=key, name=key.title(), description="", channels=channels,
                     legal_basis=legal_basis, transactional=transactional, archived=False)


NEWSLETTER = topic("newsletter")
OFFERS = topic("offers")
ACCOUNT = topic("account", transactional=True)
PRODUCT = topic("product-updates", legal_basis="soft_opt_in")
SERVICE_NEWS = topic("service-news", legal_basis="legitimate_interest")


class World:
    """A person with one address per channel, and writers for their state."""

    def __init__(self, db, rt):
        self.db, self.rt = db, rt

    def key(self, channel: str, address: str) -> str:
        return self.rt.parse_address(channel, address)[1]

    async def contact(self, channel: str = "email", address: str = "ann@example.com") -> str:
        normalized, key = self.rt.parse_address(channel, address)
        async with self.db.transaction() as tx:
            contact_id, _ = await ensure_contact_for_address(
                tx, channel=channel, normalized=normalized, address_key=key, given=address)
        return contact_id

    async def suppress(self, reason: str, channel: str = "email",
                       address: str = "ann@example.com", topic: str | None = None) -> None:
        async with self.db.transaction() as tx:
            await add_suppression(tx, channel=channel, address_key=self.key(channel, address),
                                  reason=reason, source="test", topic=topic)

    async def prefer(self, contact_id: str, action: str, topic: str | None = None,
                     channel: str = "email", paused_until: datetime | None = None) -> None:
        async with self.db.transaction() as tx:
            await set_preference(tx, contact_id=contact_id, channel=channel, topic=topic,
                                 action=action, proof=Proof(source="api"),
                                 paused_until=paused_until)

    async def restrict(self, contact_id: str) -> None:
        await self.db.execute("UPDATE contact SET restricted = $1 WHERE id = $2", True,
                              contact_id)

    async def reasons(self, topic: TopicInfo | None, channel: str = "email",
                      address: str = "ann@example.com") -> list[str]:
        from service.consent.decision import decide, lookup_state

        state = await lookup_state(self.db, channel, self.key(channel, address))
        return decide(state, topic, datetime.now(UTC))


@pytest.fixture
def world(db, rt) -> World:
    return World(db, rt)
