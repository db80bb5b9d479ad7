"""Adding suppressions in bulk and lifting one, for the API (no framework here)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from litestar.exceptions import ValidationException

from service.consent.decision import SUPPRESSION_REASONS
from service.consent.ledger import Proof, record_event
from service.contacts.normalize import AddressError
from service.contacts.store import contact_for_address
from service.db.batches import TimedBatches
from service.errors import Conflict, InputError, NotFound
from service.runtime import Runtime
from service.suppression import queries as q
from service.suppression.check import check_channel, key_of, resolve_topic
from service.suppression.store import (
    PERMANENT_REASONS,
    add_suppressions,
    remove_suppression,
    withdraw_shared_bounce,
)

MAX_REPORTED = 1_000  # invalid addresses listed in one 422


def parse_all(rt: Runtime, channel: str, addresses: list[str]) -> tuple[list[str], list]:
    """(keys, [(index, address, message)]) for a list of addresses or address keys."""
    keys: list[str] = []
    errors: list[tuple[int, str, str]] = []
    for index, address in enumerate(addresses):
        try:
            keys.append(key_of(rt, channel, address))
        except AddressError as exc:
            errors.append((index, address, str(exc)))
    return keys, errors


def refuse_invalid(errors: list[tuple[int, str, str]]) -> None:
    """422 listing the invalid addresses (the first MAX_REPORTED of them)."""
    listed = [{"key": f"addresses[{i}]", "source": "body", "message": f"{address!r} {message}"}
              for i, address, message in errors[:MAX_REPORTED]]
    more = f" (the first {MAX_REPORTED} are listed)" if len(errors) > MAX_REPORTED else ""
    raise ValidationException(
        detail=f"{len(errors)} invalid address(es){more}; nothing was written", extra=listed)


async def add_many(
    rt: Runtime, *, channel: str, reason: str, source: str, addresses: list[str],
    topic: str | None, list_name: str | None, api_key_id: int | None,
) -> tuple[int, int]:
    """(added, already) for the distinct addresses; nothing written if any is invalid."""
    check_channel(channel)
    limit = rt.settings.bulk_max_items
    if len(addresses) > limit:
        raise InputError("addresses", f"has {len(addresses)} items; at most {limit} per request",
                         status=413)
    topic_info = await resolve_topic(rt, channel, topic)
    if len(addresses) > 500:
        keys, errors = await asyncio.to_thread(parse_all, rt, channel, addresses)
    else:
        keys, errors = parse_all(rt, channel, addresses)
    if errors:
        refuse_invalid(errors)
    keys = list(dict.fromkeys(keys))
    proof = Proof(source="api", api_key_id=api_key_id)
    now = datetime.now(UTC)
    added, start, batches = 0, 0, TimedBatches(first=2_000)
    while start < len(keys):  # short transactions, so one-clicks and other writes go between
        chunk = keys[start:start + batches.size]
        start += len(chunk)
        with batches.timed(len(chunk)):
            async with rt.db.transaction() as tx:
                added += len(await add_suppressions(
                    tx, channel=channel, address_keys=chunk, reason=reason, source=source,
                    topic=topic_info.key if topic_info else None, list_name=list_name,
                    proof=proof, now=now))
    return added, len(keys) - added


async def remove_one(
    rt: Runtime, *, channel: str, address: str, reason: str | None, topic: str | None,
    note: str | None, api_key_id: int | None,
) -> tuple[str, list]:
    """Lift one suppression with an audit trail; (address key, suppressions still in force)."""
    check_channel(channel)
    if not reason:
        raise InputError("query.reason", "is required: the reason of the suppression to lift")
    if reason not in SUPPRESSION_REASONS:
        raise InputError("query.reason", f"unknown reason {reason!r}; use one of "
                         + ", ".join(SUPPRESSION_REASONS))
    if reason in PERMANENT_REASONS:
        raise Conflict("query.reason", f"a {reason} suppression cannot be lifted through the API")
    try:
        key = key_of(rt, channel, address)
    except AddressError as exc:
        raise InputError("address", str(exc)) from None
    now = datetime.now(UTC)
    async with rt.db.transaction() as tx:
        removed = await remove_suppression(tx, channel=channel, address_key=key, reason=reason,
                                           source="api", topic=topic, now=now)
        if not removed:
            raise NotFound("address", f"no {reason} suppression of this address"
                           + (f" for topic {topic!r}" if topic else " on the whole channel"))
        contact_id = await contact_for_address(tx, channel, key)
        if contact_id is not None:
            await record_event(tx, contact_id=contact_id, channel=channel, topic=topic,
                               action="unsuppressed", address_key=key, now=now,
                               proof=Proof(source="api", api_key_id=api_key_id),
                               detail={"reason": reason, "note": note})
        remaining = await tx.fetch(q.OF_ADDRESS, channel, key)
        if reason == "hard_bounce" and all(row[1] != "hard_bounce" for row in remaining):
            # the address works again (no hard bounce left, of any topic): stop telling the
            # other tenants it does not (decision D10)
            await withdraw_shared_bounce(tx, channel=channel, address_key=key)
    return key, [(row[0] or None, row[1]) for row in remaining]
