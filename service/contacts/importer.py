"""CSV import and export of contacts with their consents, streamed.

Import (`import_contacts`): the header says which column is what
(`import_columns.plan_columns`), rows are checked one by one outside any transaction
(`import_rows.RowParser`), then written in batches, one short transaction each
(`service.db.batches.TimedBatches`: about 50 ms, so the live service gets the database in
between), set-based (`import_writes.write_batch`). Export writes the long format, so a file can
be re-imported. Format: docs/consent.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from service.contacts.import_columns import plan_columns
from service.contacts.import_rows import Row, RowError, RowParser
from service.contacts.import_writes import Stats, prepare_batch, write_batch
from service.db.batches import TimedBatches
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


EXPORT_COLUMNS = ("contact_id", "external_ref", "channel", "address", "topic", "status",
                  "paused_until", "occurred_at")


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
