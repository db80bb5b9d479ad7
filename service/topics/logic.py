"""Topics: create, list, read, update, archive. Plain async functions over `rt.db`.

The caller invalidates `rt.topics` (the in-memory cache the hot paths read) after a write.
A topic is never deleted: the ledger and the preferences refer to it by key. Archiving hides it
from new preferences; restoring brings it back.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from service.db.engine import Database
from service.errors import Conflict, NotFound
from service.topics import queries as q
from service.topics.cache import DEFAULT_FREQUENCIES, frequencies_of
from service.topics.schemas import TOPIC_KEY_PATTERN

UPDATABLE = ("name", "description", "channels", "legal_basis", "transactional",
             "sale_or_sharing", "frequencies")
_JSON_LISTS = ("channels", "frequencies")  # stored as JSON text, each value once


def _known_shape(key: str) -> str:
    if not re.fullmatch(TOPIC_KEY_PATTERN, key):
        raise NotFound("key", f"no topic with the key {key!r}")
    return key


def topic_dict(row: Any) -> dict:
    channels = row["channels"]
    if isinstance(channels, str):
        channels = json.loads(channels)
    return {
        "key": row["key"], "name": row["name"], "description": row["description"],
        "channels": list(channels), "legal_basis": row["legal_basis"],
        "transactional": bool(row["transactional"]),
        "sale_or_sharing": bool(row["sale_or_sharing"]),
        "archived": row["archived_at"] is not None, "archived_at": row["archived_at"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "frequencies": list(frequencies_of(row)),
    }


def _unique(channels: list[str]) -> str:
    return json.dumps(list(dict.fromkeys(channels)))


async def create_topic(db: Database, fields: dict) -> dict:
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        row = await tx.fetchrow(
            q.CREATE, fields["key"], fields["name"], fields.get("description", ""),
            _unique(fields["channels"]), fields.get("legal_basis", "consent"),
            bool(fields.get("transactional", False)), bool(fields.get("sale_or_sharing", False)),
            now, _unique(fields.get("frequencies") or list(DEFAULT_FREQUENCIES)),
        )
    if row is None:
        raise Conflict("key", f"a topic with the key {fields['key']!r} already exists")
    return topic_dict(row)


async def list_topics(db: Database, include_archived: bool = False) -> list[dict]:
    rows = await db.fetch(q.LIST_ALL if include_archived else q.LIST_CURRENT)
    return [topic_dict(r) for r in rows]


async def get_topic(db: Database, key: str) -> dict:
    row = await db.fetchrow(q.GET, _known_shape(key))
    if row is None:
        raise NotFound("key", f"no topic with the key {key!r}")
    return topic_dict(row)


async def update_topic(db: Database, key: str, changes: dict) -> dict:
    """Apply the given fields (a subset of UPDATABLE); the key never changes."""
    columns, args = [], [_known_shape(key)]
    for column in UPDATABLE:
        if column in changes and changes[column] is not None:
            value = changes[column]
            args.append(_unique(value) if column in _JSON_LISTS else value)
            columns.append(column)
    args.append(datetime.now(UTC))
    async with db.transaction() as tx:
        row = await tx.fetchrow(q.update_sql(columns), *args)
    if row is None:
        raise NotFound("key", f"no topic with the key {key!r}")
    return topic_dict(row)


async def set_archived(db: Database, key: str, archived: bool) -> dict:
    """Archive (idempotent: the first archive time is kept) or restore a topic."""
    now = datetime.now(UTC)
    _known_shape(key)
    async with db.transaction() as tx:
        row = await tx.fetchrow(q.ARCHIVE if archived else q.RESTORE, key, now)
    if row is None:
        raise NotFound("key", f"no topic with the key {key!r}")
    return topic_dict(row)
