"""Writing suppressions (with their change-feed entry), in the caller's transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.consent.decision import SUPPRESSION_REASONS
from service.consent.ledger import Proof, Tx, record_change
from service.db.keys import keys_arg, keys_from, probe
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
# Keyed joins built by service.db.keys (SQLite: `CROSS JOIN` after the key list, so the
# table's index is probed per key); tests/db/test_query_plans.py checks their plans.
def existing_sql(engine: str) -> str:
    """The keys ($4) already suppressed on channel $1, topic $2, for reason $3."""
    return (f"SELECT s.address_key FROM {keys_from(engine, 4)} {probe(engine)} suppression s"
            " ON s.channel = $1 AND s.address_key = k.key AND s.topic = $2 AND s.reason = $3")


def contacts_sql(engine: str) -> str:
    """address key -> contact id for the keys ($2) a contact holds on channel $1."""
    return (f"SELECT a.address_key, a.contact_id FROM {keys_from(engine, 2)}"
            f" {probe(engine)} address a ON a.channel = $1 AND a.address_key = k.key")


# PostgreSQL: the batch's keys are COPYed into a temporary table (one per pooled connection,
# emptied at commit), then one statement adds what is new: the suppressions (the unique index
# decides what is new, as the ON CONFLICT arbiter, whatever the planner thinks), the feed rows
# carrying their `seq`, and the ledger events of the keys a contact holds. A key already
# suppressed uses up a sequence number: the feed has gaps, never reordering (readers go by
# cursor). Nothing is left to the planner's estimates, which lag far behind the tables' sizes
# during an import: a join to `address` or a NOT EXISTS on `suppression` was planned as a read
# of a whole channel per batch (measured; tests/db/test_query_plans.py keeps it out), while a
# correlated look-up can only probe the unique index.
PG_KEYS_TABLE = "bulk_keys"
PG_ADD_MANY = """
WITH added AS (
  INSERT INTO suppression (channel, address_key, topic, reason, source, list_name, contact_id,
                           created_at, seq)
  SELECT $1, k.key, $2, $3, $4, $6,
         (SELECT a.contact_id FROM address a
           WHERE a.channel = CAST($1 AS varchar) AND a.address_key = k.key),
         $5, nextval('change_feed_seq_seq')
    FROM bulk_keys k
  ON CONFLICT (channel, address_key, topic, reason) DO NOTHING
  RETURNING address_key, contact_id, seq
), feed AS (
  INSERT INTO change_feed (seq, kind, op, channel, address_key, topic, contact_id, value, source,
                           occurred_at)
  SELECT seq, 'suppression', 'added', $1, address_key, $2, contact_id, $3, $4, $5 FROM added
), events AS (
  INSERT INTO consent_event (contact_id, address_key, channel, topic, action, source,
                             occurred_at, ip, user_agent, wording_version, campaign, message_ref,
                             api_key_id, detail)
  SELECT contact_id, address_key, $1, $2, 'suppressed', $8, $5, $9, $10, $11, $12, $13, $14, $15
    FROM added WHERE $7 AND contact_id IS NOT NULL
)
SELECT address_key FROM added ORDER BY seq
"""
SQLITE_INSERT_FEED = (
    "INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,"
    " occurred_at) VALUES ('suppression', 'added', $1, $2, $3, $4, $5, $6, $7)"
)
# We hold SQLite's only write lock, so the feed rows after `before` ($1) are this batch's.
SQLITE_INSERT_FROM_FEED = (
    "INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
    " contact_id, created_at, seq) SELECT channel, address_key, topic, value, source, $2,"
    " contact_id, occurred_at, seq FROM change_feed WHERE seq > $1 ORDER BY seq"
)
INSERT_EVENT = (
    "INSERT INTO consent_event (contact_id, address_key, channel, topic, action, source,"
    " occurred_at, ip, user_agent, wording_version, campaign, message_ref, api_key_id, detail)"
    " VALUES ($1, $2, $3, $4, 'suppressed', $5, $6, $7, $8, $9, $10, $11, $12, $13)"
)


async def contacts_of(tx: Tx, channel: str, keys: list[str]) -> dict[str, str]:
    """address key -> contact id, for the keys a contact holds."""
    if not keys:
        return {}
    rows = await tx.fetch(contacts_sql(tx.engine), channel, keys_arg(tx.engine, keys))
    return {row[0]: row[1] for row in rows}


async def add_suppressions(
    tx: Tx, *, channel: str, address_keys: list[str], reason: str, source: str,
    topic: str | None = None, list_name: str | None = None, proof: Proof | None = None,
    detail: dict | None = None, now: datetime | None = None,
) -> list[str]:
    """Add one suppression per key (duplicates ignored) in the caller's transaction; returns
    the keys added (the others were suppressed for this reason already). Never lifts anything.

    When a contact holds an address, the suppression carries its id and, with `proof`, the
    ledger gets a `suppressed` event. Statements per batch are a fixed few, whatever its size;
    callers size batches with service.db.batches.TimedBatches so the write lock is held briefly.
    """
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    # Sorted: neighbouring keys share index pages, for the probes and for the inserts.
    keys = sorted(set(address_keys))
    if not keys:
        return []
    event = proof or Proof(source=source)
    event_detail = json.dumps({"reason": reason, "source": source, "list_name": list_name,
                               **(detail or {})})
    await tx.lock_feed()
    if tx.engine == "postgres":
        await tx.copy_to_temp(PG_KEYS_TABLE, "key text", [(k,) for k in keys], ["key"])
        rows = await tx.fetch(
            PG_ADD_MANY, channel, topic_value, reason, source, now, list_name, proof is not None,
            event.source, event.ip, event.user_agent, event.wording_version, event.campaign,
            event.message_ref, event.api_key_id, event_detail)
        return [row[0] for row in rows]
    existing = {row[0] for row in await tx.fetch(
        existing_sql(tx.engine), channel, topic_value, reason, keys_arg(tx.engine, keys))}
    new = [k for k in keys if k not in existing]
    if not new:
        return []
    contacts = await contacts_of(tx, channel, new)
    before = await tx.fetchval("SELECT COALESCE(MAX(seq), 0) FROM change_feed")
    await tx.executemany(SQLITE_INSERT_FEED, [
        (channel, key, topic_value, contacts.get(key), reason, source, now) for key in new])
    await tx.execute(SQLITE_INSERT_FROM_FEED, before, list_name)
    if proof is not None and contacts:
        await tx.executemany(INSERT_EVENT, [
            (contacts[key], key, channel, topic_value, event.source, now, event.ip,
             event.user_agent, event.wording_version, event.campaign, event.message_ref,
             event.api_key_id, event_detail) for key in new if key in contacts])
    return new
