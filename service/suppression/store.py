"""Writing suppressions (with their change-feed entry), in the caller's transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.consent.decision import SUPPRESSION_REASONS
from service.consent.ledger import Proof, Tx, record_change, record_event
from service.db.tables import WHOLE_CHANNEL

# Reasons a plain API call may not lift.
PERMANENT_REASONS = ("complaint", "erased")


async def add_suppression(
    tx: Tx, *, channel: str, address_key: str, reason: str, source: str,
    topic: str | None = None, contact_id: str | None = None, list_name: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Add one suppression; False (and nothing written) when it already exists. Never lifts."""
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    await tx.lock_feed()
    exists = await tx.fetchval(
        "SELECT 1 FROM suppression WHERE channel = $1 AND address_key = $2 AND topic = $3"
        " AND reason = $4",
        channel, address_key, topic_value, reason,
    )
    if exists:
        return False
    seq = await record_change(tx, kind="suppression", op="added", channel=channel,
                              address_key=address_key, topic=topic_value, contact_id=contact_id,
                              value=reason, source=source, now=now)
    await tx.execute(
        "INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
        " contact_id, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        channel, address_key, topic_value, reason, source, list_name, contact_id, now, seq,
    )
    return True


async def remove_suppression(
    tx: Tx, *, channel: str, address_key: str, reason: str, source: str,
    topic: str | None = None, now: datetime | None = None,
) -> bool:
    """Lift one suppression; False when there was none. Callers refuse PERMANENT_REASONS."""
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    await tx.lock_feed()
    row = await tx.fetchrow(
        "SELECT id, contact_id FROM suppression WHERE channel = $1 AND address_key = $2"
        " AND topic = $3 AND reason = $4",
        channel, address_key, topic_value, reason,
    )
    if row is None:
        return False
    await tx.execute("DELETE FROM suppression WHERE id = $1", row["id"])
    await record_change(tx, kind="suppression", op="removed", channel=channel,
                        address_key=address_key, topic=topic_value, contact_id=row["contact_id"],
                        value=reason, source=source, now=now)
    return True


# -- many at once (API, imports, ESP webhooks) ------------------------------------------------
_PG_ADD_MANY = """
WITH wanted AS (
  SELECT k.key, k.contact_id, k.ord
    FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) WITH ORDINALITY AS k(key, contact_id, ord)
), feed AS (
  INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,
                           occurred_at)
  SELECT 'suppression', 'added', $3, key, $4, contact_id, $5, $6, $7 FROM wanted ORDER BY ord
  RETURNING seq, address_key, contact_id
)
INSERT INTO suppression (channel, address_key, topic, reason, source, list_name, contact_id,
                         created_at, seq)
SELECT $3, address_key, $4, $5, $6, $8, contact_id, $7, seq FROM feed
"""


def _keys_from(tx: Tx, n: int) -> str:
    """A relation `k(key)` of the keys in parameter $n (a join, not `= ANY($n)`: PostgreSQL
    may scan the table and search the array linearly for every row when statistics are thin).
    """
    if tx.engine == "postgres":
        return f"unnest(CAST(${n} AS text[])) AS k(key)"
    return f"(SELECT value AS key FROM json_each(${n})) AS k"


def _keys_arg(tx: Tx, keys: list[str]):
    return keys if tx.engine == "postgres" else json.dumps(keys)


async def contacts_of(tx: Tx, channel: str, keys: list[str]) -> dict[str, str]:
    """address key -> contact id, for the keys a contact holds."""
    if not keys:
        return {}
    rows = await tx.fetch(
        f"SELECT a.address_key, a.contact_id FROM {_keys_from(tx, 2)}"
        " JOIN address a ON a.channel = $1 AND a.address_key = k.key",
        channel, _keys_arg(tx, keys))
    return {row[0]: row[1] for row in rows}


async def add_suppressions(
    tx: Tx, *, channel: str, address_keys: list[str], reason: str, source: str,
    topic: str | None = None, list_name: str | None = None, proof: Proof | None = None,
    detail: dict | None = None, now: datetime | None = None,
) -> list[str]:
    """Add one suppression per key (duplicates ignored) in the caller's transaction; returns
    the keys added (the others were suppressed for this reason already). Never lifts anything.

    When a contact holds an address, the suppression carries its id and, with `proof`, the
    ledger gets a `suppressed` event. Keep batches to a few thousand keys per transaction.
    """
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    keys = list(dict.fromkeys(address_keys))
    if not keys:
        return []
    await tx.lock_feed()
    existing = {row[0] for row in await tx.fetch(
        f"SELECT s.address_key FROM {_keys_from(tx, 4)} JOIN suppression s ON s.channel = $1"
        " AND s.address_key = k.key AND s.topic = $2 AND s.reason = $3",
        channel, topic_value, reason, _keys_arg(tx, keys))}
    new = [k for k in keys if k not in existing]
    if not new:
        return []
    contacts = await contacts_of(tx, channel, new)
    if tx.engine == "postgres":
        await tx.execute(_PG_ADD_MANY, new, [contacts.get(k) for k in new], channel, topic_value,
                         reason, source, now, list_name)
    else:  # SQLite: we hold the only write lock, so the feed rows after `before` are ours
        before = await tx.fetchval("SELECT COALESCE(MAX(seq), 0) FROM change_feed")
        await tx.executemany(
            "INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value,"
            " source, occurred_at) VALUES ('suppression', 'added', $1, $2, $3, $4, $5, $6, $7)",
            [(channel, key, topic_value, contacts.get(key), reason, source, now) for key in new])
        await tx.execute(
            "INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
            " contact_id, created_at, seq) SELECT channel, address_key, topic, value, source, $2,"
            " contact_id, occurred_at, seq FROM change_feed WHERE seq > $1 ORDER BY seq",
            before, list_name)
    if proof is not None:
        for key in new:
            if key in contacts:
                await record_event(
                    tx, contact_id=contacts[key], channel=channel, topic=topic_value,
                    action="suppressed", proof=proof, address_key=key, now=now,
                    detail={"reason": reason, "source": source, "list_name": list_name,
                            **(detail or {})})
    return new
