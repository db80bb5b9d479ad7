"""CSV import and export of contacts with their consents, streamed.

Import (`import_contacts`): the header says which column is what (`plan_columns`: the names of
a typical CRM export, `--map COLUMN=FIELD` for any other; columns not used are named in the
summary and never stored). One row is one contact: its addresses (one per channel column, or
the long format's `channel` + `address`) and an optional consent that applies to each of its
channels. Rows are checked one by one outside any transaction (`RowParser`), then written in
batches, one short transaction each (`service.db.batches.TimedBatches`: about 50 ms, so the
live service gets the database in between), set-based (`write_batch`): one keyed look-up of
the contacts by external_ref and one of the addresses, the matching rules of
`contacts.logic.upsert_contact` applied in Python, multi-row inserts, and the consents through
`consent.many.set_preferences` (the rules of `consent.ledger.set_preference`, source `import`).
A row whose consent is older than the preference already held is skipped, so an old list can
never undo a newer opt-out. Export writes the long format, so a file can be re-imported.
Format: docs/consent.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from service.consent.ledger import Proof, Tx
from service.consent.logic import check_topic
from service.consent.many import STALE, UNCHANGED, Change, db_time, set_preferences
from service.contacts.logic import HELD_ELSEWHERE, ParsedAddress
from service.contacts.normalize import CHANNELS, AddressError
from service.db.batches import TimedBatches
from service.db.keys import keys_arg, keys_from, rows_arg, rows_from
from service.db.tables import WHOLE_CHANNEL
from service.errors import InputError

BATCH = 500  # rows of the first transaction; TimedBatches sizes the next ones by their time
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)


def open_csv_text(binary: IO[bytes]) -> io.TextIOWrapper:
    """The file as text that never stops on a byte that is not UTF-8 (the row says so)."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="", errors="surrogateescape")


def readable_rows(reader: Any) -> Iterable[tuple[Any, str | None]]:
    """(row, None), or (None, why) for a row that cannot be read (bytes that are not UTF-8, a
    field over the csv module's size limit): one bad row is reported, the file goes on."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield None, f"unreadable CSV: {exc}"
            continue
        if isinstance(row, list):  # csv.reader: every cell is text
            bad = _NOT_UTF8.search("".join(row)) is not None
        else:
            bad = any(_NOT_UTF8.search(c if isinstance(c, str) else " ".join(c or ()))
                      for c in row.values())
        if bad:
            yield None, "is not UTF-8 text (save the file as UTF-8)"
            continue
        yield row, None


# -- columns ----------------------------------------------------------------------------------
CONSENT_FIELDS = ("topic", "status", "paused_until", "occurred_at", "wording_version",
                  "campaign", "ip", "user_agent")
# What a column may be: an address on a channel, the long format's channel and address, the
# contact's CRM id, the consent and its proof; `ignore` drops a column (--map X=ignore).
FIELDS = (*CHANNELS, "channel", "address", "external_ref", *CONSENT_FIELDS, "ignore")
# Header names of typical CRM exports (compared as `header_name` makes them).
ALIASES = {
    "e_mail": "email", "email_address": "email", "e_mail_address": "email",
    "mobile": "sms", "telephone": "phone", "postal_address": "post",
    "id": "external_ref", "contact_id": "ignore",  # contact_id: ours, in exports
}
EXPORT_COLUMNS = ("contact_id", "external_ref", "channel", "address", "topic", "status",
                  "paused_until", "occurred_at")
ACTIONS = {"opted_in": "opt_in", "opted_out": "opt_out"}
MAX_TEXT = {"external_ref": 255, "wording_version": 100, "campaign": 200, "ip": 64,
            "user_agent": 1000}
_SEPARATORS = re.compile(r"[\s_-]+")


def header_name(name: str) -> str:
    """A header name as matched: case, spaces, hyphens and underscores do not matter
    (`E-mail`, `e_mail` and `E mail` are one name)."""
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """`--map COLUMN=FIELD` options as {COLUMN: FIELD}; InputError naming an item that is not
    COLUMN=FIELD or an unknown FIELD. (The header is checked by `plan_columns`.)"""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise InputError("--map", f"{item!r} is not COLUMN=FIELD")
        target = header_name(target)
        if target not in FIELDS:
            raise InputError("--map", f"{item!r}: unknown field {target!r} (fields: "
                                      f"{', '.join(FIELDS)})")
        mapping[column.strip()] = target
    return mapping


@dataclass(frozen=True, slots=True)
class Columns:
    """What each column of a file is."""

    names: list[str]  # the header as written
    single: dict[str, int]  # field -> column index (external_ref, channel, address, consent)
    addresses: list[tuple[int, str]]  # (column index, channel): one address column each
    default_channel: str | None  # of the `address` column when there is no `channel` column
    unused: list[str]  # named once in the summary, never read

    def name(self, field_name: str) -> str:
        """How the file names a field's column (for messages)."""
        i = self.single.get(field_name)
        return (self.names[i].strip() or field_name) if i is not None else field_name


def plan_columns(header: Sequence[str], mapping: Mapping[str, str] | None = None,
                 default_channel: str | None = None) -> Columns:
    """Read the header; InputError (a usage error) when it cannot be imported as asked."""
    names = [header_name(h) for h in header]
    missing = [column for column in mapping or {} if header_name(column) not in names]
    if missing:
        raise InputError("--map", f"no column {missing[0]!r} in the header (its columns: "
                                  f"{', '.join(h for h in header if h.strip())})")
    single: dict[str, int] = {}
    addresses: list[tuple[int, str]] = []
    unused: list[str] = []
    mapping = {header_name(column): target for column, target in (mapping or {}).items()}
    for i, (given, name) in enumerate(zip(header, names, strict=True)):
        target = mapping.get(name) or ALIASES.get(name) or (name if name in FIELDS else None)
        if target is None or target == "ignore":
            unused.append(given.strip() or f"column {i + 1} (no name)")
        elif target in CHANNELS:
            addresses.append((i, target))
        elif target in single:
            raise InputError("header", f"columns {header[single[target]]!r} and {given!r} are "
                                       f"both {target}: --map one of them to another field or "
                                       "to ignore")
        else:
            single[target] = i
    if "channel" in single and "address" not in single:
        raise InputError("header", "a 'channel' column needs an 'address' column")
    if "address" in single and "channel" not in single and default_channel is None:
        raise InputError("header", "no 'channel' column: give one, or --channel")
    if "address" not in single and not addresses:
        raise InputError("header", "the first line must name the columns, with at least one "
                                   "address column: email (or e-mail, email_address), phone, "
                                   "mobile or sms, fax, postal_address, or channel and address; "
                                   "--map COLUMN=FIELD names any other")
    if default_channel is not None and "address" not in single:
        raise InputError("--channel", "--channel names the channel of an 'address' column, and "
                                      "this file has none (--map COLUMN=CHANNEL instead)")
    return Columns(list(header), single, addresses, default_channel, unused)


# -- rows -------------------------------------------------------------------------------------
class RowError(ValueError):
    pass


@dataclass
class Stats:
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


@dataclass(slots=True)
class Row:
    line: int
    external_ref: str | None
    addresses: tuple[ParsedAddress, ...]  # distinct (channel, key); `field` is the column
    topic: str | None
    action: str | None
    paused_until: datetime | None
    occurred_at: datetime | None
    proof: Proof
    cells: list[str]
    consent: list[list[Change]]  # per channel, written with the row's contact


class Progress:
    """A one-line text progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total_bytes: int | None, stream: IO[str] = sys.stderr, label="import"):
        self.total, self.stream, self.label = total_bytes, stream, label
        self._last = 0.0

    def due(self) -> bool:
        return time.monotonic() - self._last >= 0.1

    def update(self, done_bytes: int, stats: Stats, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < 0.1:
            return
        self._last = now
        counts = f"{stats.rows:,} rows, {stats.rejected:,} rejected"
        if self.total:
            share = 1.0 if final else min(done_bytes / self.total, 1.0)
            bar = "#" * int(share * 30)
            line = f"{self.label} [{bar:<30}] {share:4.0%} {counts}"
        else:
            line = f"{self.label} {counts}"
        self.stream.write("\r" + line + ("\n" if final else ""))
        self.stream.flush()


def _cell(cells: list[str], cols: Columns, name: str) -> str | None:
    i = cols.single.get(name)
    if i is None or i >= len(cells):
        return None
    value = cells[i].strip()
    if not value:
        return None
    if "\x00" in value:
        raise RowError(f"{cols.name(name)}: contains a NUL character")
    if name in MAX_TEXT and len(value) > MAX_TEXT[name]:
        raise RowError(f"{cols.name(name)}: longer than {MAX_TEXT[name]} characters")
    return value


def _time(cells: list[str], cols: Columns, name: str) -> datetime | None:
    value = _cell(cells, cols, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"{cols.name(name)}: not an ISO 8601 time, like 2026-11-22T10:00:00Z"
                       ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


_PROOF_FIELDS = ("ip", "user_agent", "wording_version", "campaign")
IMPORT_PROOF = Proof(source="import")


class RowParser:
    """Checks rows of one file (`parse`), without writing; RowError says what is wrong, naming
    the column."""

    def __init__(self, rt: Any, cols: Columns):
        self.rt, self.cols = rt, cols
        self.parse_address = rt.parse_address
        single = cols.single
        self.long = single.get("address")
        self.addresses = [(i, channel, cols.names[i].strip() or channel)
                          for i, channel in cols.addresses]
        self.consent = any(f in single for f in ("topic", "status", "paused_until"))
        self.times = "paused_until" in single or "occurred_at" in single
        self.proof = any(f in single for f in _PROOF_FIELDS)
        self.ref = "external_ref" in single
        self.checked: dict[tuple[str, str], str | None] = {}  # (channel, topic) -> problem

    def _address(self, channel: str, given: str, column: str) -> ParsedAddress:
        if "\x00" in given:
            raise RowError(f"{column}: contains a NUL character")
        try:
            normalized, key = self.parse_address(channel, given)
        except AddressError as exc:
            raise RowError(f"{column}: {exc}") from None
        return ParsedAddress(column, channel, normalized, key, given.strip())

    async def _check_topic(self, channel: str, topic: str) -> None:
        # Topics are few: each (channel, topic) is checked once per batch of rows (`forget()`
        # between batches), so a topic archived while the file is read is refused from the
        # next batch on.
        problem = self.checked.get((channel, topic), "")
        if problem == "":
            try:
                await check_topic(self.rt.db, self.rt.topics, channel, topic, "topic")
                problem = None
            except InputError as exc:
                problem = exc.message
            self.checked[(channel, topic)] = problem
        if problem is not None:
            raise RowError(f"{self.cols.name('topic')}: {problem}")

    def forget(self) -> None:
        self.checked.clear()

    async def parse(self, cells: list[str], line: int) -> Row:
        cols = self.cols
        found: dict[tuple[str, str], ParsedAddress] = {}
        n = len(cells)
        if self.long is not None:  # the long format: channel + address
            channel = _cell(cells, cols, "channel") or cols.default_channel
            if channel is None:
                raise RowError(f"{cols.name('channel')}: empty (give a channel column or "
                               "--channel)")
            if channel not in CHANNELS:
                raise RowError(f"{cols.name('channel')}: {channel!r} is not one of "
                               f"{', '.join(CHANNELS)}")
            a = self._address(channel, cells[self.long] if self.long < n else "",
                              cols.name("address"))
            found[(channel, a.key)] = a
        for i, channel, column in self.addresses:  # one per channel column; empty cells skipped
            if i < n and not cells[i].isspace() and cells[i]:
                a = self._address(channel, cells[i], column)
                if (channel, a.key) not in found:
                    found[(channel, a.key)] = a
        if not found:
            raise RowError("no address: the address columns ("
                           f"{', '.join(column for _, _, column in self.addresses)}) are all "
                           "empty")
        topic = action = paused_until = occurred_at = None
        if self.consent:
            topic, status = _cell(cells, cols, "topic"), _cell(cells, cols, "status")
            if topic is not None:
                for channel in dict.fromkeys(a.channel for a in found.values()):
                    await self._check_topic(channel, topic)
            if status is not None:
                action = ACTIONS.get(status)
                if action is None:
                    raise RowError(f"{cols.name('status')}: {status!r} is not opted_in, "
                                   "opted_out or empty")
        if self.times:
            paused_until = _time(cells, cols, "paused_until")
            occurred_at = _time(cells, cols, "occurred_at")
            now = datetime.now(UTC)
            if paused_until is not None and paused_until <= now:
                raise RowError(f"{cols.name('paused_until')}: in the past")
            if occurred_at is not None and occurred_at > now:
                raise RowError(f"{cols.name('occurred_at')}: in the future")
        proof = IMPORT_PROOF
        if self.proof:
            proof = Proof(source="import", ip=_cell(cells, cols, "ip"),
                          user_agent=_cell(cells, cols, "user_agent"),
                          wording_version=_cell(cells, cols, "wording_version"),
                          campaign=_cell(cells, cols, "campaign"))
        ref = _cell(cells, cols, "external_ref") if self.ref else None
        addresses = tuple(found.values())
        return Row(line, ref, addresses, topic, action, paused_until, occurred_at, proof, cells,
                   _consent(addresses, topic, action, paused_until, occurred_at, proof))


async def parse_row(rt: Any, cells: list[str], line: int, cols: Columns) -> Row:
    """Check one row without writing (RowParser.parse, for one row)."""
    return await RowParser(rt, cols).parse(cells, line)


# -- writing a batch --------------------------------------------------------------------------
# Keyed look-ups. SQLite: the key list, then CROSS JOIN the table (service.db.keys). PostgreSQL:
# the key list, then a LATERAL subquery with LIMIT 1 (the index is unique, so the limit changes
# nothing), which the planner cannot flatten into a hash join: a plain join of `unnest` with
# 1,000 keys was planned as a seq scan of the table when its statistics were stale, as they are
# while an import adds rows faster than autovacuum analyses them (50,000 addresses: Hash Join
# over Seq Scan on address, 60 ms per batch; it grows with the table).
def contacts_by_ref_sql(engine: str) -> str:
    """(external_ref, id) of the contacts with these external refs: `keys_arg(engine, refs)`."""
    if engine == "postgres":
        return (f"SELECT m.external_ref, m.id FROM {keys_from(engine, 1)} CROSS JOIN LATERAL"
                " (SELECT c.external_ref, c.id FROM contact c WHERE c.external_ref = k.key"
                " LIMIT 1) AS m")
    return (f"SELECT c.external_ref, c.id FROM {keys_from(engine, 1)} CROSS JOIN contact c"
            " WHERE c.external_ref = k.key")


def holders_sql(engine: str) -> str:
    """(channel, address_key, contact_id, external_ref) of the contacts holding these
    addresses: `rows_arg(engine, [(channel, key), ...], 2)`."""
    keys = rows_from(engine, 1, ("channel", "address_key"))
    if engine == "postgres":
        return ("SELECT h.channel, h.address_key, h.contact_id, h.external_ref"
                f" FROM {keys} CROSS JOIN LATERAL"
                " (SELECT a.channel, a.address_key, a.contact_id, c.external_ref"
                " FROM address a JOIN contact c ON c.id = a.contact_id"
                " WHERE a.channel = k.channel AND a.address_key = k.address_key LIMIT 1) AS h")
    return ("SELECT a.channel, a.address_key, a.contact_id, c.external_ref"
            f" FROM {keys} CROSS JOIN address a CROSS JOIN contact c"
            " WHERE a.channel = k.channel AND a.address_key = k.address_key"
            " AND c.id = a.contact_id")


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


CONTACT_COLUMNS = ("id", "external_ref", "restricted", "created_at", "updated_at")
ADDRESS_COLUMNS = ("contact_id", "channel", "address_key", "normalized", "given", "created_at")
INSERT_CONTACT = (f"INSERT INTO contact ({', '.join(CONTACT_COLUMNS)})"
                  " VALUES ($1, $2, $3, $4, $5)")
INSERT_ADDRESS = (f"INSERT INTO address ({', '.join(ADDRESS_COLUMNS)})"
                  " VALUES ($1, $2, $3, $4, $5, $6)")
SET_REF = ("UPDATE contact SET external_ref = $2, updated_at = $3"
           " WHERE id = $1 AND external_ref IS NULL")
TOUCH = "UPDATE contact SET updated_at = $2 WHERE id = $1"
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
    `consent.ledger.set_preference` (through `consent.many.set_preferences`)."""
    engine = tx.engine
    if not isinstance(batch, Batch):
        batch = prepare_batch(engine, batch)
    now = now or datetime.now(UTC)
    stamp = db_time(engine, now)  # the contacts' and addresses' times, converted once
    await tx.lock_feed()  # like upsert_contact: no other contact writer between look-up and write
    by_ref: dict[str, str] = {}
    if batch.refs:
        by_ref = {row[0]: row[1] for row in await tx.fetch(contacts_by_ref_sql(engine),
                                                            batch.refs_arg)}
    holders: dict[tuple[str, str], str] = {}
    ref_of: dict[str, str | None] = {c: ref for ref, c in by_ref.items()}
    for row in await tx.fetch(holders_sql(engine), *batch.addresses_args):
        holders[(row[0], row[1])] = row[2]
        ref_of[row[2]] = row[3]
    fresh_ids = iter(batch.ids)
    new_contacts: dict[str, list] = {}  # id -> its insert row (external_ref may still be set)
    new_addresses: list[tuple] = []
    set_ref: dict[str, str] = {}  # existing contact -> the external_ref it takes
    touched: set[str] = set()  # existing contacts that got an address
    changes: list[Change] = []
    groups: list[tuple[int, int]] = []  # (first, end) in changes: one row's consent on a channel
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
            new_contacts[contact] = [contact, ref, False, stamp, stamp]
            ref_of[contact] = ref
            if ref is not None:
                by_ref[ref] = contact
            stats.created += 1
            for a in row.addresses:
                holders[(a.channel, a.key)] = contact
                new_addresses.append((contact, a.channel, a.key, a.normalized, a.given, stamp))
        else:
            stats.matched += 1
            if ref is not None and ref_of[contact] is None:
                ref_of[contact], by_ref[ref] = ref, contact
                if contact in new_contacts:
                    new_contacts[contact][1] = ref
                else:
                    set_ref[contact] = ref
            for a in row.addresses:
                if (a.channel, a.key) not in holders:
                    holders[(a.channel, a.key)] = contact
                    new_addresses.append((contact, a.channel, a.key, a.normalized, a.given,
                                          stamp))
                    if contact not in new_contacts:
                        touched.add(contact)
        for group in row.consent:
            for change in group:
                change.contact_id = contact
            groups.append((len(changes), len(changes) + len(group)))
            changes.extend(group)
    await _insert(tx, "contact", CONTACT_COLUMNS, INSERT_CONTACT,
                  [tuple(c) for c in new_contacts.values()])
    await _insert(tx, "address", ADDRESS_COLUMNS, INSERT_ADDRESS, new_addresses)
    if set_ref:
        await tx.executemany(SET_REF, [(c, ref, now) for c, ref in set_ref.items()])
    if touched - set_ref.keys():
        await tx.executemany(TOUCH, [(c, now) for c in touched - set_ref.keys()])
    if not changes:
        return
    outcomes = await set_preferences(tx, changes, fresh=new_contacts.keys(), now=now)
    for first, end in groups:
        mine = outcomes[first:end]
        if STALE in mine:
            stats.stale += 1  # a newer decision is held: an old list must not undo it
        else:
            stats.unchanged += mine.count(UNCHANGED)
            stats.consents += len(mine) - mine.count(UNCHANGED)


def _consent(addresses: Sequence[ParsedAddress], topic: str | None, action: str | None,
             paused_until: datetime | None, occurred_at: datetime | None,
             proof: Proof) -> list[list[Change]]:
    """A row's consent on each of its channels (named on its first address there), with the
    contact left to fill in: one list of changes per channel."""
    actions = [(action, None)] if action else []
    if paused_until:
        actions.append(("paused", paused_until))
    if not actions:
        return []
    first_of: dict[str, str] = {}
    for a in addresses:
        first_of.setdefault(a.channel, a.key)
    return [[Change("", channel, topic or WHOLE_CHANNEL, act, proof, until, key, occurred_at,
                    occurred_at is not None) for act, until in actions]
            for channel, key in first_of.items()]


async def _insert(tx: Tx, table: str, columns: Sequence[str], sql: str, rows: list) -> None:
    if not rows:
        return
    if tx.engine == "postgres":  # COPY: conflicts were ruled out above, under the feed lock
        await tx.copy_records(table, rows, columns)
    else:
        await tx.executemany(sql, rows)


# -- the import -------------------------------------------------------------------------------
class _DryRun(Exception):
    """Raised at the end of a batch to roll it back."""


def _reject(stats: Stats, line: int, reason: str, rejects: Any, cells: list[str] | None) -> None:
    stats.rejected += 1
    if len(stats.rejections) < Stats.MAX_SHOWN:
        stats.rejections.append((line, reason))
    if rejects is not None:
        rejects.writerow([line, reason, *(cells or ())])


async def _flush(rt: Any, rows: list[Row], stats: Stats, dry_run: bool, rejects: Any,
                 batches: TimedBatches) -> None:
    def reject(row: Row, reason: str) -> None:
        _reject(stats, row.line, reason, rejects, row.cells)

    batch = prepare_batch(rt.db.engine, rows)
    with batches.timed(len(rows)) as timer:
        try:
            async with rt.db.transaction() as tx:
                await write_batch(tx, batch, stats, reject)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
    stats.batches += 1
    stats.longest = max(stats.longest, time.perf_counter() - timer.started)


async def import_contacts(rt: Any, binary: IO[bytes], *, default_channel: str | None = None,
                          dry_run: bool = False, progress: Progress | None = None,
                          rejects: IO[str] | None = None, mapping: Mapping[str, str] | None = None,
                          batches: TimedBatches | None = None) -> Stats:
    """Stream a CSV file (bytes, UTF-8) into contacts and consents; never holds it whole.
    `mapping`: `parse_mapping(--map options)`. InputError for a header that cannot be
    imported (before anything is written)."""
    reader = csv.reader(open_csv_text(binary))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("header", "the file is empty: its first line must name the columns"
                         ) from None
    cols = plan_columns(header, mapping, default_channel)
    writer = None
    if rejects is not None:
        writer = csv.writer(rejects)
        writer.writerow(["row", "reason", *header])
    stats, pending = Stats(unused=cols.unused), []
    batches = batches or TimedBatches(first=BATCH)
    parser = RowParser(rt, cols)
    writing: asyncio.Task | None = None  # the batch being written while the next is parsed
    end = reader.line_num  # the header's
    try:
        for cells, unreadable in readable_rows(reader):
            if not cells and not unreadable:
                continue  # a blank line
            stats.rows += 1
            # the line the record starts on (a quoted field may span lines)
            line, end = end + 1, max(reader.line_num, end + 1)
            if unreadable:
                _reject(stats, line, unreadable, writer, None)
                continue
            try:
                pending.append(await parser.parse(cells, line))
            except RowError as exc:
                _reject(stats, line, str(exc), writer, cells)
            if len(pending) >= batches.size:
                if writing is not None:
                    await writing
                # Written while the next rows are parsed: the commit (an fsync, in a thread on
                # SQLite; a round trip on PostgreSQL) no longer stalls the parsing.
                writing = asyncio.ensure_future(
                    _flush(rt, pending, stats, dry_run, writer, batches))
                pending = []
                parser.forget()
            if stats.rows % 8 == 0:
                await asyncio.sleep(0)  # let the batch being written go on
                if progress and progress.due():
                    progress.update(_position(binary), stats)
        if writing is not None:
            await writing
        writing = None
        if pending:
            await _flush(rt, pending, stats, dry_run, writer, batches)
    finally:
        if writing is not None:  # parsing failed: let the batch in flight end, then raise
            await asyncio.gather(writing, return_exceptions=True)
    stats.rejections.sort()
    if progress:
        progress.update(_position(binary), stats, final=True)
    return stats


def _position(binary: IO[bytes]) -> int:
    try:
        return binary.tell()
    except (OSError, ValueError):
        return 0


def file_size(binary: IO[bytes]) -> int | None:
    try:
        return os.fstat(binary.fileno()).st_size or None
    except (OSError, ValueError, io.UnsupportedOperation):
        return None


EXPORT_SQL = """
SELECT a.id, c.id AS contact_id, c.external_ref, a.channel, a.normalized, p.topic, p.status,
       p.paused_until, p.updated_at
  FROM address a JOIN contact c ON c.id = a.contact_id
  LEFT JOIN preference p ON p.contact_id = a.contact_id AND p.channel = a.channel
 WHERE a.id IN (SELECT id FROM address WHERE id > $1 AND ($3 = '' OR channel = $3)
                 ORDER BY id LIMIT $2)
 ORDER BY a.id, p.topic
"""


async def export_contacts(rt: Any, out: IO[str], channel: str | None = None,
                          page: int = 2000) -> int:
    """Every address with its preferences on that channel, in pages (keyset on address id)."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    after, written = 0, 0
    while True:
        rows = await rt.db.fetch_long(EXPORT_SQL, after, page, channel or "")
        if not rows:
            return written
        writer.writerows(_export_rows(rows))
        written += len(rows)
        after = rows[-1]["id"]


def _export_rows(rows: Iterable[Any]) -> Iterable[list]:
    now = datetime.now(UTC)
    for r in rows:
        until = r["paused_until"]
        yield [r["contact_id"], r["external_ref"] or "", r["channel"], r["normalized"],
               r["topic"] or "", "" if r["status"] in (None, "none") else r["status"],
               until.isoformat() if until and until > now else "",
               r["updated_at"].isoformat() if r["updated_at"] else ""]
