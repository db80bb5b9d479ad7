"""Shared set-up for the unsubscribe tests: topics, contacts, tokens, row counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from service.consent.decision import lookup_state
from service.contacts.store import ensure_contact_for_address
from service.db.tables import TABLES

GMAIL_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
SCANNER_AGENTS = [
    "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36",  # Microsoft Defender Safe Links / Proofpoint look-alike
    "Mimecast-URL-Protect/1.0",
    "Proofpoint URL Defense",
    "GoogleImageProxy",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "",
]


async def add_topic(db, key: str, name: str, channels=("email",), legal_basis="consent",
                    transactional=False) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO topic (key, name, description, channels, legal_basis, transactional,"
            " archived_at, created_at, updated_at) VALUES ($1, $2, '', $3, $4, $5, NULL, $6, $6)",
            key, name, json.dumps(list(channels)), legal_basis, transactional, now)


async def add_contact(db, rt, channel: str, address: str) -> tuple[str, str]:
    """(contact id, address key) of a new contact holding `address`."""
    normalized, key = rt.parse_address(channel, address)
    async with db.transaction() as tx:
        contact_id, _ = await ensure_contact_for_address(
            tx, channel=channel, normalized=normalized, address_key=key, given=address)
    return contact_id, key


async def add_address(db, rt, contact_id: str, channel: str, address: str) -> str:
    from service.contacts.store import add_address as store_add

    normalized, key = rt.parse_address(channel, address)
    async with db.transaction() as tx:
        await store_add(tx, contact_id=contact_id, channel=channel, normalized=normalized,
                        address_key=key, given=address)
    return key


async def counts(db) -> dict[str, int]:
    """Rows of every table: what "nothing was written" is checked against."""
    return {t._meta.tablename: await db.fetchval(f'SELECT COUNT(*) FROM "{t._meta.tablename}"')
            for t in TABLES}


async def blocked_reasons(db, rt, channel: str, address: str, topic: str | None):
    """The send decision for (channel, address, topic), as the suppression check answers it."""
    from service.consent.decision import decide
    from service.topics.cache import TopicCache

    _, key = rt.parse_address(channel, address)
    info = await TopicCache().get(db, topic) if topic else None
    return decide(await lookup_state(db, channel, key), info, datetime.now(UTC))


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def form_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field in the page"
    return match.group(1)
