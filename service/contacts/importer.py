"""CSV import and export of contacts with their consents, streamed.

Import (`import_contacts`): the header says which column is what
(`import_columns.plan_columns`), rows are checked one by one outside any transaction
(`import_rows.RowParser`), then written in batches, one short transaction each
(`service.db.batches.TimedBatches`: about 50 ms, so the live service gets the database in
between), set-based (`import_writes.write_batch`). Export writes the long format, so a file can
be re-imported. Files are read and written by the one CSV pipeline (service.csvfiles).
Format: docs/consent.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from service.contacts import queries as q
from service.contacts.import_columns import plan_columns
from service.contacts.import_rows import Row, RowError, RowParser
from service.contacts.import_writes import Stats, prepare_batch, write_batch
from service.csvfiles import RejectsFile, position, records, write_pages
from service.db.batches import TimedBatches
from service.errors import InputError
from service.progress import Progress

BATCH = 500  # rows of the first transaction; TimedBatches sizes the next ones by their time


EXPORT_COLUMNS = ("contact_id", "external_ref", "channel", "address", "topic", "status",
                  "paused_until", "occurred_at")


class _DryRun(Exception):
    """Raised at the end of a batch to roll it back."""


def _reject(stats: Stats, line: int, reason: str, rejects: RejectsFile,
            cells: list[str] | None) -> None:
    stats.rejected += 1
    if len(stats.rejections) < Stats.MAX_SHOWN:
        stats.rejections.append((line, reason))
    rejects.add(line, reason, cells)


def _progress_text(stats: Stats) -> str:
    return f"{stats.rows:,} rows, {stats.rejected:,} rejected"


async def _flush(rt: Any, rows: list[Row], stats: Stats, dry_run: bool, rejects: RejectsFile,
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
    rows = records(binary)
    _, header, unreadable = next(rows, (0, [], None))
    if header is None:
        raise InputError("header", f"the first line {unreadable}")
    if not header:
        raise InputError("header", "the file is empty: its first line must name the columns")
    cols = plan_columns(header, mapping, default_channel)
    writer = RejectsFile(rejects)
    writer.start(header)
    stats, pending = Stats(unused=cols.unused), []
    batches = batches or TimedBatches(first=BATCH)
    parser = RowParser(rt, cols)
    writing: asyncio.Task | None = None  # the batch being written while the next is parsed
    try:
        for line, cells, unreadable in rows:
            stats.rows += 1
            if cells is None:
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
                    progress.update(position(binary), _progress_text(stats))
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
        progress.finish(position(binary), _progress_text(stats))
    return stats


async def export_contacts(rt: Any, out: IO[str], channel: str | None = None,
                          page: int = 2000) -> int:
    """Every address with its preferences on that channel, in pages (keyset on address id)."""
    return await write_pages(out, EXPORT_COLUMNS, _pages(rt, channel, page))


async def _pages(rt: Any, channel: str | None, page: int) -> AsyncIterator[list[list]]:
    after = 0
    while True:
        rows = await rt.db.fetch_long(q.EXPORT_PAGE, after, page, channel or "")
        if not rows:
            return
        yield list(_export_rows(rows))
        after = rows[-1]["id"]


def _export_rows(rows: Iterable[Any]) -> Iterable[list]:
    now = datetime.now(UTC)
    for r in rows:
        until = r["paused_until"]
        yield [r["contact_id"], r["external_ref"] or "", r["channel"], r["normalized"],
               r["topic"] or "", "" if r["status"] in (None, "none") else r["status"],
               until.isoformat() if until and until > now else "",
               r["updated_at"].isoformat() if r["updated_at"] else ""]
