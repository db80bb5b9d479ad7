"""Test data written the way the service writes it, and helpers for CSRF-protected forms."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from service.consent.decision import decide, lookup_state
from service.contacts.store import add_address, ensure_contact_for_address
from service.db.engine import Database
from service.runtime import Runtime, build_runtime
from service.settings import Settings
from service.topics.cache import topic_from_row

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def add_topic(db: Database, key: str, name: str, channels: list[str],
                    legal_basis: str = "soft_opt_in", transactional: bool = False,
                    description: str = "", archived: bool = False,
                    sale_or_sharing: bool = False) -> None:
    now = datetime.now(UTC)
    await db.execute(
        "INSERT INTO topic (key, name, description, channels, legal_basis, transactional,"
        " archived_at, created_at, updated_at, sale_or_sharing)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
        key, name, description, json.dumps(channels), legal_basis, transactional,
        now if archived else None, now, sale_or_sharing)


async def add_contact(db: Database, rt: Runtime, addresses: list[tuple[str, str]]) -> str:
    """A contact with these (channel, address) pairs; returns its id."""
    contact_id = None
    async with db.transaction() as tx:
        for channel, raw in addresses:
            normalized, key = rt.parse_address(channel, raw)
            if contact_id is None:
                contact_id, _ = await ensure_contact_for_address(
                    tx, channel=channel, normalized=normalized, address_key=key, given=raw)
            else:
                await add_address(tx, contact_id=contact_id, channel=channel,
                                  normalized=normalized, address_key=key, given=raw)
    return contact_id


async def topics_of(db: Database) -> dict:
    rows = await db.fetch("SELECT key, name, description, channels, legal_basis, transactional,"
                          " sale_or_sharing, archived_at, frequencies FROM topic")
    return {row["key"]: topic_from_row(row) for row in rows}


async def reasons(db: Database, rt: Runtime, channel: str, raw: str, topic: str | None
                  ) -> list[str]:
    """The send decision for (channel, address, topic): [] means allowed."""
    _, key = rt.parse_address(channel, raw)
    info = (await topics_of(db))[topic] if topic else None
    return decide(await lookup_state(db, channel, key), info, datetime.now(UTC))


async def count(db: Database, table: str) -> int:
    return await db.fetchval(f"SELECT COUNT(*) FROM {table}")


async def snapshot(db: Database) -> dict[str, int]:
    """Row counts of everything a page could change."""
    tables = ("consent_event", "preference", "suppression", "change_feed", "outbox", "contact")
    return {table: await count(db, table) for table in tables}


def csrf_token(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF input"
    return match.group(1)


def offline_runtime(settings: Settings) -> Runtime:
    """A runtime for its keyer and signer (its database stays closed)."""
    return build_runtime(settings)
