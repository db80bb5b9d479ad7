"""Shared set-up for the unsubscribe tests: topics, contacts, tokens, row counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from service.consent.decision import lookup_state
from service.contacts.store import ensure_contact_for_address, new_contact_id
from service.db.scoped import Scoped
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


# Rows of one tenant, written by the test through that tenant's view (`TenantDb(raw_db, id)`):
# the writers of contacts and the ledger are converted by other work, so these name the tenant
# themselves.
_TENANT_CONTACT = Scoped(
    "INSERT INTO contact (tenant_id, id, external_ref, restricted, created_at, updated_at)"
    " VALUES ($1, $2, NULL, false, $3, $3)")
_TENANT_ADDRESS = Scoped(
    "INSERT INTO address (tenant_id, contact_id, channel, address_key, normalized, given,"
    " created_at) VALUES ($1, $2, $3, $4, $5, $5, $6)")
_TENANT_PREFERENCE = Scoped(
    "INSERT INTO preference (tenant_id, contact_id, channel, topic, status, updated_at, seq)"
    " VALUES ($1, $2, $3, $4, $5, $6, 0)")
_TENANT_SUPPRESSION = Scoped(
    "INSERT INTO suppression (tenant_id, channel, address_key, topic, reason, source,"
    " created_at, seq) VALUES ($1, $2, $3, $4, 'unsubscribed', 'test', $5, 0)")
_TENANT_EVENT = Scoped(
    "INSERT INTO consent_event (tenant_id, contact_id, channel, topic, action, source,"
    " occurred_at, wording_version) VALUES ($1, $2, $3, $4, $5, 'test', $6, $7)"
    " RETURNING id")
_TENANT_WORDING = Scoped(
    "INSERT INTO wording_version (tenant_id, key, text, language, created_at)"
    " VALUES ($1, $2, $3, 'en', $4)")


async def add_tenant_contact(view, rt, channel: str, address: str) -> tuple[str, str]:
    """(contact id, address key) of a new contact holding `address`, in `view`'s tenant."""
    normalized, key = rt.parse_address(channel, address)
    contact_id, now = new_contact_id(), datetime.now(UTC)
    async with view.transaction() as tx:
        await tx.execute(_TENANT_CONTACT, contact_id, now)
        await tx.execute(_TENANT_ADDRESS, contact_id, channel, key, normalized, now)
    return contact_id, key


async def add_tenant_preference(view, contact_id: str, channel: str, topic: str,
                                status: str, address_key: str | None = None) -> None:
    """A preference of the contact in `view`'s tenant; with `address_key`, an opt-out's
    `unsubscribed` suppression too (what an unsubscribe leaves)."""
    now = datetime.now(UTC)
    async with view.transaction() as tx:
        await tx.execute(_TENANT_PREFERENCE, contact_id, channel, topic, status, now)
        if address_key is not None:
            await tx.execute(_TENANT_SUPPRESSION, channel, address_key, topic, now)


async def add_tenant_event(view, contact_id: str, channel: str, topic: str, action: str,
                           wording: tuple[str, str] | None = None) -> int:
    """A ledger event of the contact in `view`'s tenant (with a new wording (key, text)); its id.
    Unsealed: the chain is none of these tests' business."""
    now = datetime.now(UTC)
    async with view.transaction() as tx:
        if wording is not None:
            await tx.execute(_TENANT_WORDING, *wording, now)
        return await tx.fetchval(_TENANT_EVENT, contact_id, channel, topic, action, now,
                                 wording[0] if wording else None)


async def tenant_of(raw_db, table: str, where: str, *args) -> list[int]:
    """The tenant ids of the rows of `table` matching `where` (a plain statement)."""
    return [row[0] for row in await raw_db.fetch(
        f"SELECT tenant_id FROM {table} WHERE {where} ORDER BY tenant_id", *args)]
