"""The one CSV pipeline of the command line: every import reads, and every export writes, here.

Reading: a file (or `-`, standard input) as bytes, decoded as UTF-8 with or without a BOM
(Excel writes one); a byte that is not UTF-8, or a field over the csv module's size limit, makes
that row unreadable and reported, and the file goes on, so one bad row never loses a long import.
Each record carries the line it starts on (a quoted field may span lines), the number people see
in their editor. Rejected rows may also go to a `--rejects` file, with their line and reason
before the cells, so the file can be fixed and imported again. Writing: a header, then pages of
rows as the exporter reads them, so memory stays bounded whatever the table's size.

Every exported text cell goes through `guard_cell` (CSV injection): a cell a spreadsheet would
run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`, as OWASP advises, except
a plain number such as an E.164 phone number (`+447700900123`), which no spreadsheet runs as a
command and which must import again unchanged. Reading undoes the guard (`'=x` reads as `=x`),
so an exported file imports again as it was.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import AsyncIterable, Iterator, Sequence
from contextlib import ExitStack
from typing import IO, Any

from service.progress import Progress

_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
NOT_UTF8 = "is not UTF-8 text (save the file as UTF-8)"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?").fullmatch


def guard_cell(value: Any) -> Any:
    """A text cell a spreadsheet cannot run as a formula; other values as they are."""
    if (isinstance(value, str) and value[:1] in _FORMULA_START
            and _PLAIN_NUMBER(value) is None):
        return "'" + value
    return value


def unguard_cell(cell: str) -> str:
    """The cell `guard_cell` was given: `'=x` reads as `=x`; any other cell as it is."""
    if cell[:1] == "'" and cell[1:2] in _FORMULA_START:
        return cell[1:]
    return cell


class UsageError(Exception):
    """A file that cannot be opened, or an option that does not apply: exit code 2."""


def open_input(stack: ExitStack, path: str) -> IO[bytes]:
    """The file to import as bytes (`-`: standard input), closed with `stack`."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def open_output(stack: ExitStack, path: str) -> IO[str]:
    """The file to write CSV to (`-`: standard output), closed with `stack`."""
    if path == "-":
        return sys.stdout
    try:
        return stack.enter_context(open(path, "w", newline="", encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def text_of(binary: IO[bytes]) -> io.TextIOWrapper:
    """The file as text that never stops on a byte that is not UTF-8 (the row says so)."""
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="", errors="surrogateescape")


def records(binary: IO[bytes]) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line, cells, None) for every row of the file but empty lines, with the line it starts
    on; (line, None, why) for a row that cannot be read. Plain tuples from one generator: this
    runs once per row of a 10-15k rows/s import."""
    text = text_of(binary)
    reader = csv.reader(text)
    end = 0  # the last line of the previous record
    try:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line, end = end + 1, max(reader.line_num, end + 1)
                yield line, None, f"unreadable CSV: {exc}"
                continue
            line, end = end + 1, max(reader.line_num, end + 1)
            if not cells:
                continue
            joined = "".join(cells)
            if _NOT_UTF8.search(joined) is None:
                if "'" in joined:
                    cells = [unguard_cell(cell) for cell in cells]
                yield line, cells, None
            else:
                yield line, None, NOT_UTF8
    finally:
        if not binary.closed:  # the caller's file stays open (a dropped wrapper would close it)
            text.detach()


def file_size(binary: IO[bytes]) -> int | None:
    """Bytes in the file, for the progress bar (None for a pipe)."""
    try:
        return os.fstat(binary.fileno()).st_size or None
    except (OSError, ValueError, io.UnsupportedOperation):
        return None


def position(binary: IO[bytes]) -> int:
    """Bytes read so far (0 for a pipe)."""
    try:
        return binary.tell()
    except (OSError, ValueError):
        return 0


class RejectsFile:
    """`--rejects FILE`: every rejected row as (row, reason, the cells as read); or nothing."""

    def __init__(self, out: IO[str] | None):
        self._writer = csv.writer(out) if out is not None else None
        self._started = False

    def start(self, header: Sequence[str]) -> None:
        """The header line: row, reason, then the file's own column names (once)."""
        if self._writer is not None and not self._started:
            self._writer.writerow(["row", "reason", *map(guard_cell, header)])
        self._started = True

    def add(self, line: int, reason: str, cells: Sequence[str] | None) -> None:
        self.start(())
        if self._writer is not None:
            self._writer.writerow([line, guard_cell(reason), *map(guard_cell, cells or ())])


async def write_pages(out: IO[str], columns: Sequence[str],
                      pages: AsyncIterable[Sequence[Sequence[Any]]],
                      progress: Progress | None = None, total: int | None = None) -> int:
    """Write the header and every page of rows to `out`, every cell guarded (`guard_cell`);
    returns the rows written."""
    writer = csv.writer(out)
    writer.writerow(columns)
    written = 0
    async for page in pages:
        writer.writerows([guard_cell(cell) for cell in row] for row in page)
        written += len(page)
        if progress is not None:
            of = f" of {total:,}" if total is not None else ""
            progress.update(written, f"{written:,}{of} rows")
    if progress is not None:
        progress.finish(written, f"{written:,} rows written")
    return written
