"""CSV import and export of contacts with their consents, streamed.

Import: one row per (contact, address, optional consent); rows are checked one by one, written
in batches of BATCH rows per transaction (so the live service keeps getting the database in
between), every consent through `consent.ledger.set_preference` with source `import`.
A row whose consent is older than the preference already held is skipped, so an old list can
never undo a newer opt-out. Export writes the same columns, so a file can be re-imported.
Format: docs/consent.md.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from service.consent.ledger import Proof, set_preference
from service.consent.logic import check_topic
from service.contacts.logic import ParsedAddress, upsert_contact
from service.contacts.normalize import CHANNELS, AddressError
from service.errors import InputError

BATCH = 500
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
        cells = row.values() if isinstance(row, dict) else row
        if any(_NOT_UTF8.search(c if isinstance(c, str) else " ".join(c or ())) for c in cells):
            yield None, "is not UTF-8 text (save the file as UTF-8)"
            continue
        yield row, None
COLUMNS = ("external_ref", "channel", "address", "topic", "status", "paused_until",
           "occurred_at", "wording_version", "campaign", "ip", "user_agent")
EXPORT_COLUMNS = ("contact_id", "external_ref", "channel", "address", "topic", "status",
                  "paused_until", "occurred_at")
KNOWN = set(COLUMNS) | {"contact_id"}  # contact_id (from an export) is ignored
ACTIONS = {"opted_in": "opt_in", "opted_out": "opt_out"}
MAX_TEXT = {"external_ref": 255, "wording_version": 100, "campaign": 200, "ip": 64,
            "user_agent": 1000}


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

    MAX_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    external_ref: str | None
    address: ParsedAddress
    topic: str | None
    action: str | None
    paused_until: datetime | None
    occurred_at: datetime | None
    proof: Proof


class Progress:
    """A one-line text progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total_bytes: int | None, stream: IO[str] = sys.stderr, label="import"):
        self.total, self.stream, self.label = total_bytes, stream, label
        self._last = 0.0

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


def _text(raw: dict, name: str) -> str | None:
    value = (raw.get(name) or "").strip()
    if "\x00" in value:
        raise RowError(f"{name}: contains a NUL character")
    if name in MAX_TEXT and len(value) > MAX_TEXT[name]:
        raise RowError(f"{name}: longer than {MAX_TEXT[name]} characters")
    return value or None


def _time(raw: dict, name: str) -> datetime | None:
    value = _text(raw, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"{name}: not an ISO 8601 time, like 2026-11-22T10:00:00Z") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


async def parse_row(rt: Any, raw: dict, line: int, default_channel: str | None) -> Row:
    """Check one row without writing; RowError says what is wrong."""
    channel = _text(raw, "channel") or default_channel
    if channel is None:
        raise RowError("channel: empty (give a channel column or --channel)")
    if channel not in CHANNELS:
        raise RowError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    given = raw.get("address") or ""
    if "\x00" in given:
        raise RowError("address: contains a NUL character")
    try:
        normalized, key = rt.parse_address(channel, given)
    except AddressError as exc:
        raise RowError(f"address: {exc}") from None
    topic, status = _text(raw, "topic"), _text(raw, "status")
    try:
        await check_topic(rt.db, rt.topics, channel, topic, "topic")
    except InputError as exc:
        raise RowError(f"topic: {exc.message}") from None
    if status is not None and status not in ACTIONS:
        raise RowError(f"status: {status!r} is not opted_in, opted_out or empty")
    now = datetime.now(UTC)
    paused_until, occurred_at = _time(raw, "paused_until"), _time(raw, "occurred_at")
    if paused_until is not None and paused_until <= now:
        raise RowError("paused_until: in the past")
    if occurred_at is not None and occurred_at > now:
        raise RowError("occurred_at: in the future")
    proof = Proof(source="import", ip=_text(raw, "ip"), user_agent=_text(raw, "user_agent"),
                  wording_version=_text(raw, "wording_version"), campaign=_text(raw, "campaign"))
    return Row(line, _text(raw, "external_ref"),
               ParsedAddress("address", channel, normalized, key, given.strip()),
               topic, ACTIONS.get(status or ""), paused_until, occurred_at, proof)


class _DryRun(Exception):
    """Raised at the end of a batch to roll it back."""


def _reject(stats: Stats, line: int, reason: str, rejects: Any, raw: dict | None) -> None:
    stats.rejected += 1
    if len(stats.rejections) < Stats.MAX_SHOWN:
        stats.rejections.append((line, reason))
    if rejects is not None:
        rejects.writerow({"row": line, "reason": reason, **(raw or {})})


async def _write_batch(rt: Any, batch: list[tuple[Row, dict]], stats: Stats, dry_run: bool,
                       rejects: Any) -> None:
    try:
        async with rt.db.transaction() as tx:
            for row, raw in batch:
                try:
                    contact_id, created = await upsert_contact(tx, row.external_ref,
                                                               [row.address])
                except InputError as exc:  # refused before writing anything of this row
                    _reject(stats, row.line, f"{exc.field}: {exc.message}", rejects, raw)
                    continue
                stats.created += created
                stats.matched += not created
                await _write_consent(tx, row, contact_id, stats)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass


async def _write_consent(tx: Any, row: Row, contact_id: str, stats: Stats) -> None:
    actions = [(a, None) for a in [row.action] if a] + \
        ([("paused", row.paused_until)] if row.paused_until else [])
    if not actions:
        return
    if row.occurred_at is not None:
        held = await tx.fetchval(
            "SELECT updated_at FROM preference WHERE contact_id = $1 AND channel = $2"
            " AND topic = $3", contact_id, row.address.channel, row.topic or "")
        if held is not None and held > row.occurred_at:
            stats.stale += 1  # a newer decision is held: an old list must not undo it
            return
    for action, until in actions:
        changed = await set_preference(
            tx, contact_id=contact_id, channel=row.address.channel, topic=row.topic,
            action=action, proof=row.proof, paused_until=until, address_key=row.address.key,
            now=row.occurred_at)
        stats.consents += changed
        stats.unchanged += not changed


async def import_contacts(rt: Any, binary: IO[bytes], *, default_channel: str | None = None,
                          dry_run: bool = False, progress: Progress | None = None,
                          rejects: IO[str] | None = None) -> Stats:
    """Stream a CSV file (bytes, UTF-8) into contacts and consents; never holds it whole."""
    reader = csv.DictReader(open_csv_text(binary))
    header = reader.fieldnames or []
    if "address" not in header:
        raise InputError("header", "the first line must name the columns, with at least "
                                   f"'address' (known: {', '.join(COLUMNS)})")
    if "channel" not in header and default_channel is None:
        raise InputError("header", "no 'channel' column: give one, or --channel")
    unknown = [h for h in header if h not in KNOWN]
    if unknown:
        print(f"warning: ignoring unknown columns: {', '.join(unknown)}", file=sys.stderr)
    writer = None
    if rejects is not None:
        writer = csv.DictWriter(rejects, ["row", "reason", *header], extrasaction="ignore")
        writer.writeheader()
    stats, batch = Stats(), []
    end = reader.line_num  # the header's
    for raw, unreadable in readable_rows(reader):
        stats.rows += 1
        # the line the record starts on (a quoted field may span lines; blank lines count)
        line, end = end + 1, max(reader.line_num, end + 1)
        if unreadable:
            _reject(stats, line, unreadable, writer, None)
            continue
        try:
            batch.append((await parse_row(rt, raw, line, default_channel), raw))
        except RowError as exc:
            _reject(stats, line, str(exc), writer, raw)
        if len(batch) >= BATCH:
            await _write_batch(rt, batch, stats, dry_run, writer)
            batch = []
        if progress:
            progress.update(_position(binary), stats)
    if batch:
        await _write_batch(rt, batch, stats, dry_run, writer)
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
