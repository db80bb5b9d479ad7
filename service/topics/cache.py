"""Topics as the hot paths need them: all of them in memory, refreshed every few seconds."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from service.db.engine import Database
from service.topics import queries as q

LEGAL_BASES = ("consent", "soft_opt_in", "legitimate_interest")
# How often a person may ask for a topic (issue 17): "immediate" is no limit, always allowed;
# the others are offered per topic (`frequencies`). The windows are in consent/decision.py.
FREQUENCIES = ("immediate", "daily", "weekly", "monthly")
DEFAULT_FREQUENCIES = ("immediate",)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    key: str
    name: str
    description: str
    channels: tuple[str, ...]
    legal_basis: str
    transactional: bool
    archived: bool
    # its data goes to third parties (a partner list): a Global Privacy Control signal opts out
    sale_or_sharing: bool = False
    frequencies: tuple[str, ...] = DEFAULT_FREQUENCIES

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis == "consent"


def topic_from_row(row) -> TopicInfo:
    channels = row["channels"]
    if isinstance(channels, str):
        channels = json.loads(channels)
    return TopicInfo(
        key=row["key"],
        name=row["name"],
        description=row["description"],
        channels=tuple(channels),
        legal_basis=row["legal_basis"],
        transactional=bool(row["transactional"]),
        archived=row["archived_at"] is not None,
        sale_or_sharing=bool(row["sale_or_sharing"]),
        frequencies=frequencies_of(row),
    )


def frequencies_of(row) -> tuple[str, ...]:
    """The frequencies a topic row offers (a JSON list in a text column)."""
    value = row["frequencies"]
    return tuple(json.loads(value)) if value else DEFAULT_FREQUENCIES


class TopicCache:
    """Every topic by key. Writers in this process call `invalidate()`; others see a change
    within `ttl` seconds."""

    def __init__(self, ttl_seconds: float = 2.0):
        self.ttl = ttl_seconds
        self._topics: dict[str, TopicInfo] = {}
        self._expires = 0.0

    def invalidate(self) -> None:
        self._expires = 0.0

    async def all(self, db: Database) -> dict[str, TopicInfo]:
        if time.monotonic() >= self._expires:
            rows = await db.fetch(q.CACHE_ALL)
            self._topics = {row["key"]: topic_from_row(row) for row in rows}
            self._expires = time.monotonic() + self.ttl
        return self._topics

    async def get(self, db: Database, key: str) -> TopicInfo | None:
        topics = await self.all(db)
        if key not in topics:  # created a moment ago by another process?
            self.invalidate()
            topics = await self.all(db)
        return topics.get(key)
