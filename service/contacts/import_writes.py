"""Writing a batch of checked rows in one transaction, set-based (`write_batch`).

One keyed look-up of the contacts by external_ref and one of the addresses, the matching rules
of `contacts.logic.upsert_contact` applied in Python, multi-row inserts (COPY on PostgreSQL),
and the consents through `consent.many.apply_choices` (the meaning of
`consent.choice.apply_choice`, source `import`): an opted_out row also adds an `unsubscribed`
suppression to each address its contact holds on the channel, an opted_in row lifts exactly
those. A row whose consent is older than the preference already held is skipped, so an old list
can never undo a newer opt-out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.consent.ledger import Tx
from service.consent.many import (
    CHOICES,
    STALE,
    UNCHANGED,
    Change,
    addresses_held,
    apply_choices,
    db_time,
)
from service.contacts import queries as q
from service.contacts.import_rows import Row
from service.contacts.logic import HELD_ELSEWHERE
from service.db.keys import keys_arg, rows_arg
from service.db.scoped import Scoped


@dataclass
class Stats:
    """The counts of one import, for its summary (`write_batch` adds what it wrote)."""

    rows: int = 0
    created: int = 0
    matched: int = 0
    consents: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_SHOWN
    unused: list[str] = field(default_factory=list)  # columns not imported
    batches: int = 0  # transactions written
    longest: float = 0.0  # seconds, the longest of them

    MAX_SHOWN = 50

    @property
    def imported(self) -> int:
        return self.created + self.matched


def new_contact_ids(n: int) -> list[str]:
    """n new contact ids of the form `contacts.store.new_contact_id` gives (random UUID 4, hex)
    that share a random 32-bit prefix. A batch's new contacts are then neighbours in every index
    keyed by contact id (contact, address, preference, consent_event), so one transaction
    rewrites a few pages of each rather than one page per row: with a random id per row, a
    50,000-row import wrote 495 MB of SQLite WAL; with a prefix per batch, 168 MB, and ran
    twice as fast. Still random and opaque, never derived from the address."""
    prefix, rest = os.urandom(4), os.urandom(12 * n)
    ids = []
    for i in range(0, 12 * n, 12):
        b = bytearray(prefix + rest[i:i + 12])
        b[6] = (b[6] & 0x0F) | 0x40  # version 4
        b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
        ids.append(b.hex())
    return ids


OTHER_REF = "belongs to a contact with another external_ref"


@dataclass(slots=True)
class Batch:
    """Checked rows, with what their writing needs that no transaction has to wait for: the
    look-ups' key lists (encoded) and ids for the contacts they may create."""

    rows: Sequence[Row]
    refs: list[str]
    refs_arg: Any
    addresses_args: tuple
    ids: list[str]


def prepare_batch(engine: str, rows: Sequence[Row]) -> Batch:
    refs = list(dict.fromkeys(r.external_ref for r in rows if r.external_ref is not None))
    wanted = list(dict.fromkeys((a.channel, a.key) for r in rows for a in r.addresses))
    return Batch(rows, refs, keys_arg(engine, refs), rows_arg(engine, wanted, 2),
                 new_contact_ids(len(rows)))


async def write_batch(tx: Tx, batch: Batch | Sequence[Row], stats: Stats,
                      reject: Callable[[Row, str], None], now: datetime | None = None) -> None:
    """Write checked rows in the caller's transaction, with the rules of
    `contacts.logic.upsert_contact` (matched by external_ref first, then by any address; an
    address held by another contact rejects the row before anything of it is written; a
    matched contact takes the external_ref only when it has none) and, for the consents, of
    `consent.choice.apply_choice` (through `consent.many.apply_choices`): a stop or resume
    concerns the addresses its contact holds on the channel as of its row, as if the rows
    were written one by one."""
    engine, tenant = tx.engine, tx.tenant_id
    if not isinstance(batch, Batch):
        batch = prepare_batch(engine, batch)
    now = now or datetime.now(UTC)
    stamp = db_time(engine, now)  # the contacts' and addresses' times, converted once
    await tx.lock_feed()  # like upsert_contact: no other contact writer between look-up and write
    by_ref: dict[str, str] = {}
    if batch.refs:
        by_ref = {row[0]: row[1] for row in await tx.fetch(q.contacts_by_ref_sql(engine),
                                                            batch.refs_arg)}
    holders: dict[tuple[str, str], str] = {}
    ref_of: dict[str, str | None] = {c: ref for ref, c in by_ref.items()}
    for row in await tx.fetch(q.holders_sql(engine), *batch.addresses_args):
        holders[(row[0], row[1])] = row[2]
        ref_of[row[2]] = row[3]
    fresh_ids = iter(batch.ids)
    # The insert rows carry their tenant id from the start (the COPY's first column): no
    # second pass over a batch to put it in front.
    new_contacts: dict[str, list] = {}  # id -> its insert row (external_ref, [2], may be set)
    new_addresses: list[tuple] = []
    set_ref: dict[str, str] = {}  # existing contact -> the external_ref it takes
    touched: set[str] = set()  # existing contacts that got an address
    changes: list[Change] = []
    groups: list[tuple[int, int]] = []  # (first, end) in changes: one row's consent on a channel
    added: dict[tuple[str, str], list[str]] = {}  # (contact, channel) -> keys added so far
    earlier: list[Change] = []  # choices of contacts that held addresses before this batch
    for row in batch.rows:
        ref = row.external_ref
        contact = by_ref.get(ref) if ref is not None else None
        held = [(a, holders[(a.channel, a.key)]) for a in row.addresses
                if (a.channel, a.key) in holders]
        if contact is None and held:
            first, contact = held[0]
            if ref is not None and ref_of[contact] not in (None, ref):
                reject(row, f"{first.field}: {OTHER_REF}")
                continue
        other = next((a for a, c in held if c != contact), None)
        if other is not None:
            reject(row, f"{other.field}: {HELD_ELSEWHERE}")
            continue
        if contact is None:
            contact = next(fresh_ids)
            new_contacts[contact] = [tenant, contact, ref, False, stamp, stamp]
            ref_of[contact] = ref
            if ref is not None:
                by_ref[ref] = contact
            stats.created += 1
            for a in row.addresses:
                holders[(a.channel, a.key)] = contact
                new_addresses.append((tenant, contact, a.channel, a.key, a.normalized, a.given,
                                      stamp))
                added.setdefault((contact, a.channel), []).append(a.key)
        else:
            stats.matched += 1
            if ref is not None and ref_of[contact] is None:
                ref_of[contact], by_ref[ref] = ref, contact
                if contact in new_contacts:
                    new_contacts[contact][2] = ref
                else:
                    set_ref[contact] = ref
            for a in row.addresses:
                if (a.channel, a.key) not in holders:
                    holders[(a.channel, a.key)] = contact
                    new_addresses.append((tenant, contact, a.channel, a.key, a.normalized,
                                          a.given, stamp))
                    added.setdefault((contact, a.channel), []).append(a.key)
                    if contact not in new_contacts:
                        touched.add(contact)
        for group in row.consent:
            for change in group:
                change.contact_id = contact
                if change.action in CHOICES:
                    change.address_keys = tuple(added.get((contact, change.channel), ()))
                    if contact not in new_contacts:
                        earlier.append(change)
            groups.append((len(changes), len(changes) + len(group)))
            changes.extend(group)
    if earlier:  # before the inserts: the addresses held before this batch
        held = await addresses_held(tx, {(c.contact_id, c.channel) for c in earlier})
        for c in earlier:
            c.address_keys = (*held.get((c.contact_id, c.channel), ()), *c.address_keys)
    await _insert(tx, "contact", q.CONTACT_COLUMNS, q.INSERT_CONTACT,
                  [tuple(c) for c in new_contacts.values()])
    await _insert(tx, "address", q.ADDRESS_COLUMNS, q.ADD_ADDRESS, new_addresses)
    if set_ref:
        await tx.executemany(q.IMPORT_SET_REF, [(c, ref, now) for c, ref in set_ref.items()])
    if touched - set_ref.keys():
        await tx.executemany(q.TOUCH, [(c, now) for c in touched - set_ref.keys()])
    if not changes:
        return
    outcomes = await apply_choices(tx, changes, fresh=new_contacts.keys(), now=now)
    for first, end in groups:
        mine = outcomes[first:end]
        if STALE in mine:
            stats.stale += 1  # a newer decision is held: an old list must not undo it
        else:
            stats.unchanged += mine.count(UNCHANGED)
            stats.consents += len(mine) - mine.count(UNCHANGED)


async def _insert(tx: Tx, table: str, columns: Sequence[str], sql: Scoped, rows: list) -> None:
    """Insert rows whose first value is the tenant id (`tx`'s), then `columns`' values."""
    if not rows:
        return
    if tx.engine == "postgres":  # COPY: conflicts were ruled out above, under the feed lock
        await tx.copy_records(table, rows, ("tenant_id", *columns))
    else:  # the rows hold the tenant's $1 already: past the view, which would add another
        await tx.raw.executemany(sql.plain, rows)
