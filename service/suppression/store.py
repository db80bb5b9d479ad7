"""Writing suppressions (with their change-feed entry), in the caller's transaction.

The statements are in service/suppression/queries.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.consent.decision import SUPPRESSION_REASONS
from service.consent.ledger import Proof, Tx, chain_heads, record_change, sealed_event
from service.consent.queries import MANY_EVENT_COLUMNS, MANY_INSERT_EVENT
from service.db.keys import keys_arg
from service.db.tables import WHOLE_CHANNEL
from service.suppression import queries as q

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
    exists = await tx.fetchval(q.EXISTS, channel, address_key, topic_value, reason)
    if exists:
        return False
    seq = await record_change(tx, kind="suppression", op="added", channel=channel,
                              address_key=address_key, topic=topic_value, contact_id=contact_id,
                              value=reason, source=source, now=now)
    await tx.execute(q.INSERT, channel, address_key, topic_value, reason, source, list_name,
                     contact_id, now, seq)
    return True


async def remove_suppression(
    tx: Tx, *, channel: str, address_key: str, reason: str, source: str,
    topic: str | None = None, now: datetime | None = None,
) -> bool:
    """Lift one suppression; False when there was none. Callers refuse PERMANENT_REASONS."""
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    await tx.lock_feed()
    row = await tx.fetchrow(q.FIND, channel, address_key, topic_value, reason)
    if row is None:
        return False
    await tx.execute(q.DELETE, row["id"])
    await record_change(tx, kind="suppression", op="removed", channel=channel,
                        address_key=address_key, topic=topic_value, contact_id=row["contact_id"],
                        value=reason, source=source, now=now)
    return True


async def share_hard_bounce(tx: Tx, *, channel: str, address_key: str, now: datetime) -> None:
    """Tell the other tenants that this address hard-bounced (only with SHARE_HARD_BOUNCES:
    the caller decides); they see it as `undeliverable`, never who saw it or when."""
    await tx.execute(q.SHARE_BOUNCE, channel, address_key, now)


async def withdraw_shared_bounce(tx: Tx, *, channel: str, address_key: str) -> None:
    """This tenant lifted its hard bounce of the address (it works again): its claim to the
    other tenants goes too, whatever the setting is now (a later `on` must not revive it).
    Other tenants' claims stay: each is their own evidence."""
    await tx.execute(q.WITHDRAW_BOUNCE, channel, address_key)


async def last_seq(tx_or_db) -> int:
    """The change feed's high-water mark: the last sequence number drawn (0 when empty)."""
    return int(await tx_or_db.fetchval(q.LAST_SEQ))


async def contacts_of(tx: Tx, channel: str, keys: list[str]) -> dict[str, str]:
    """address key -> contact id, for the keys a contact holds."""
    if not keys:
        return {}
    rows = await tx.fetch(q.contacts_sql(tx.engine), channel, keys_arg(tx.engine, keys))
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
        await tx.copy_to_temp(q.PG_KEYS_TABLE, "key text", [(k,) for k in keys], ["key"])
        rows = await tx.fetch(q.PG_ADD_MANY, channel, topic_value, reason, source, now,
                              list_name)
        new = [row[0] for row in rows]
        contacts = {row[0]: row[1] for row in rows if row[1] is not None}
    else:
        existing = {row[0] for row in await tx.fetch(
            q.existing_sql(tx.engine), channel, topic_value, reason, keys_arg(tx.engine, keys))}
        new = [k for k in keys if k not in existing]
        if not new:
            return []
        contacts = await contacts_of(tx, channel, new)
        before = await last_seq(tx)
        await tx.executemany(q.SQLITE_INSERT_FEED, [
            (channel, key, topic_value, contacts.get(key), reason, source, now) for key in new])
        await tx.execute(q.SQLITE_INSERT_FROM_FEED, before, list_name)
    if proof is not None and contacts:
        # Sealed in the contacts' hash chains, in insert order (a contact may hold several).
        heads = await chain_heads(tx, contacts.values())
        events = [sealed_event(heads, contact_id=contacts[key], address_key=key,
                               channel=channel, topic=topic_value, action="suppressed",
                               proof=event, at=now, detail=event_detail)
                  for key in new if key in contacts]
        if tx.engine == "postgres":
            # COPY goes around the tenant's view: the tenant is put in each row here
            tenant = tx.tenant_id
            await tx.copy_records("consent_event", [(tenant, *e) for e in events],
                                  ("tenant_id", *MANY_EVENT_COLUMNS))
        else:
            await tx.executemany(MANY_INSERT_EVENT, events)
    return new


async def remove_suppressions(
    tx: Tx, *, channel: str, address_keys: list[str], reason: str, source: str,
    topic: str | None = None, now: datetime | None = None,
) -> list[str]:
    """Lift the suppressions of these keys for (channel, topic, reason) in the caller's
    transaction, each with its feed row, as remove_suppression does one by one; returns the
    keys lifted. A fixed few statements per batch, whatever its size. Callers refuse
    PERMANENT_REASONS."""
    now = now or datetime.now(UTC)
    topic_value = topic or WHOLE_CHANNEL
    keys = sorted(set(address_keys))
    if not keys:
        return []
    await tx.lock_feed()
    if tx.engine == "postgres":
        rows = await tx.fetch(q.PG_LIFT_MANY, channel, topic_value, reason, keys, source, now)
        return [row[0] for row in rows]
    found = await tx.fetch(q.lift_sql(tx.engine), channel, topic_value, reason,
                           keys_arg(tx.engine, keys))
    if not found:
        return []
    await tx.execute(q.SQLITE_DELETE_MANY, json.dumps([row[0] for row in found]))
    await tx.executemany(q.SQLITE_LIFT_FEED, [
        (channel, row[1], topic_value, row[2], reason, source, now) for row in found])
    return [row[1] for row in found]
