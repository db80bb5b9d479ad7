"""CSV import and export of suppressions, streamed, with progress on stderr.

`python -m service import suppressions FILE --channel C --reason R [--source S]
[--list-name TPS [--snapshot --as-of YYYY-MM-DD]] [--dry-run] [--rejects FILE]` (dispatched by
service/transfer.py) calls `run_import(args)`; the file is read by the one CSV pipeline
(service.csvfiles).

Import file: one address (or 64-hex address key) per row. A first row naming its columns is a
header: the address is taken from a column named address, email, phone, mobile, telephone,
number, fax or postal_address (or from `address_key` when that cell is empty), and an optional
`topic` column suppresses that topic only. Without a header the first column is the address.
Rows go in batches sized to take about 50 ms each (service.db.batches), so a running import
never holds the write lock for long and the live service's writes go in between; the file is
streamed, so memory stays bounded whatever its size. An import only adds (never lifts or changes an
existing suppression); malformed rows are reported row by row and skipped. With `--snapshot`
the file is the whole external list as of `--as-of`: after the adds, the list's suppressions
whose number is not in the file are lifted, and the list's date and size recorded (lists.py).
Exit codes: 0 all rows imported, 1 some rows rejected (the others imported), 2 usage errors.
"""

from __future__ import annotations

import asyncio
import csv
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO

from service.consent.decision import SUPPRESSION_REASONS
from service.consent.ledger import Proof
from service.contacts.normalize import CHANNELS, AddressError
from service.csvfiles import (
    RejectsFile,
    UsageError,
    file_size,
    open_input,
    open_output,
    position,
    records,
)
from service.db.batches import TimedBatches
from service.errors import InputError
from service.progress import Progress
from service.runtime import Runtime, with_runtime
from service.suppression import lists
from service.suppression.bulk import fetch_states
from service.suppression.check import key_of, resolve_topic
from service.suppression.store import add_suppressions
from service.tenants.model import DEFAULT_SLUG

MAX_REPORTED = 1_000
ADDRESS_COLUMNS = ("address", "email", "phone", "mobile", "telephone", "number", "fax",
                   "postal_address")
# The national preference services and the channel each covers.
KNOWN_LISTS = {"TPS": "phone", "CTPS": "phone", "FPS": "fax", "MPS": "post", "DNC": "phone"}


@dataclass
class Stats:
    rows: int = 0
    added: int = 0
    already: int = 0
    rejected: int = 0
    lifted: int = 0
    size: int | None = None  # a snapshot's list size, once recorded
    rejections: list[tuple[int, str]] = field(default_factory=list)


def _usage(message: str, err: IO[str]) -> int:
    print(f"error: {message}", file=err)
    return 2


def check_import_args(args) -> str | None:
    """The usage error of an import, if any."""
    if not args.channel or args.channel not in CHANNELS:
        return f"--channel is required: one of {', '.join(CHANNELS)}"
    if args.reason not in SUPPRESSION_REASONS:
        return f"--reason is required: one of {', '.join(SUPPRESSION_REASONS)}"
    list_name = getattr(args, "list_name", None)
    if args.reason == "external_list" and not list_name:
        return "--list-name is required with --reason external_list (e.g. TPS, CTPS, FPS, MPS)"
    if list_name and len(list_name) > 32:
        return "--list-name is longer than 32 characters"
    expected = KNOWN_LISTS.get((list_name or "").upper())
    if expected and expected != args.channel:
        return f"the {list_name.upper()} list is for channel {expected}, not {args.channel}"
    source = getattr(args, "source", None) or "import"
    if len(source) > 32:
        return "--source is longer than 32 characters"
    return _check_snapshot_args(args)


def _check_snapshot_args(args) -> str | None:
    as_of = getattr(args, "as_of", None)
    if not getattr(args, "snapshot", False):
        return "--as-of applies with --snapshot only" if as_of else None
    if args.reason != "external_list" or not getattr(args, "list_name", None):
        return "--snapshot needs --reason external_list and --list-name (e.g. TPS)"
    if not as_of:
        return "--snapshot needs --as-of YYYY-MM-DD, the date of the list"
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        return f"--as-of {as_of!r} is not a date like 2026-11-30"
    if len(as_of) != 10 or day > datetime.now(UTC).date():
        return f"--as-of {as_of} must be a past or today's date, written YYYY-MM-DD"
    if args.dry_run:
        return "--snapshot cannot be combined with --dry-run (the lift needs the whole file)"
    return None


def list_name_of(args) -> str | None:
    """The list name as recorded: the national lists' names in capitals."""
    name = getattr(args, "list_name", None)
    return name.upper() if name and name.upper() in KNOWN_LISTS else name


def _columns(row: list[str]) -> tuple[int, int | None, int | None] | None:
    """(address column, address_key column, topic column) when `row` is a header."""
    names = [cell.strip().lower() for cell in row]
    address = next((names.index(n) for n in ADDRESS_COLUMNS if n in names), None)
    key = names.index("address_key") if "address_key" in names else None
    if address is None and key is None:
        return None
    topic = names.index("topic") if "topic" in names else None
    return (address if address is not None else key), key, topic


async def import_suppressions(rt: Runtime, binary: IO[bytes], args, err: IO[str] = sys.stderr,
                              total_bytes: int | None = None,
                              rejects: IO[str] | None = None) -> Stats:
    """Read the CSV from `binary` and add its suppressions (a snapshot: then lift those that
    left the list and record its date); returns the counts."""
    snapshot = getattr(args, "snapshot", False)
    if snapshot:
        await lists.unstage(rt.db, list_name_of(args))  # an interrupted import's leftovers
    try:
        with Progress("import suppressions", total_bytes, err) as progress:
            stats = await _import(rt, binary, args, progress, RejectsFile(rejects), total_bytes)
        if snapshot:
            await _replace(rt, args, stats, err)
    finally:
        if snapshot:
            await lists.unstage(rt.db, list_name_of(args))
    return stats


async def _replace(rt: Runtime, args, stats: Stats, err: IO[str]) -> None:
    """After a snapshot's adds: lift what left the list, record its date and size. A file
    with no usable row lifts nothing (an empty or wrong file must not empty the list)."""
    name = list_name_of(args)
    if stats.added + stats.already == 0:
        print(f"error: no usable row: nothing lifted from {name}, its date not recorded",
              file=err)
        return
    stats.lifted = await lists.lift_gone(rt.db, channel=args.channel, list_name=name,
                                         source=getattr(args, "source", None) or "import")
    stats.size = await lists.record_list(rt.db, name=name, channel=args.channel,
                                         as_of=date.fromisoformat(args.as_of))


async def _import(rt: Runtime, binary: IO[bytes], args, progress: Progress,
                  rejected: RejectsFile, total_bytes: int | None) -> Stats:
    stats = Stats()
    list_name = list_name_of(args)
    source = getattr(args, "source", None) or "import"
    columns: tuple[int, int | None, int | None] = (0, None, None)
    batch: dict[str | None, list[str]] = {}
    pending = 0
    topics: dict[str, str | None] = {}
    started = False  # past the first non-blank row (the only one that may be a header)
    batches = TimedBatches()

    def reject(line: int, message: str, cells: list[str] | None) -> None:
        stats.rejected += 1
        rejected.add(line, message, cells)
        if stats.rejected <= MAX_REPORTED:
            stats.rejections.append((line, message))
            progress.say(f"row {line}: {message}")

    async def flush() -> None:
        nonlocal batch, pending
        with batches.timed(pending):
            await _write(rt, args, batch, stats, source, list_name)
        batch, pending = {}, 0
        progress.update(position(binary), _counts(stats, args.dry_run))

    for line, row, unreadable in records(binary):
        if row is None:
            stats.rows += 1
            reject(line, unreadable, None)
            continue
        if not any(cell.strip() for cell in row):
            continue
        first, started = not started, True
        if first:
            header = _columns(row)
            rejected.start(row if header else [])
            if header:
                columns = header
                continue
        stats.rows += 1
        address_at, key_at, topic_at = columns
        value = row[address_at].strip() if address_at < len(row) else ""
        if not value and key_at is not None and key_at < len(row):
            value = row[key_at].strip()
        if not value:
            reject(line, "no address", row)
            continue
        topic_key = row[topic_at].strip() if topic_at is not None and topic_at < len(row) else ""
        try:
            if topic_key not in topics:
                info = await resolve_topic(rt, args.channel, topic_key)
                topics[topic_key] = info.key if info else None
            address_key = key_of(rt, args.channel, value)
        except AddressError as exc:
            reject(line, f"{value[:80]!r} {exc}", row)
            continue
        except InputError as exc:
            reject(line, exc.message, row)
            continue
        batch.setdefault(topics[topic_key], []).append(address_key)
        pending += 1
        if pending >= batches.size:
            await flush()
    await flush()
    progress.finish(total_bytes or 0, _counts(stats, args.dry_run))
    return stats


async def _write(rt: Runtime, args, batch: dict, stats: Stats, source: str,
                 list_name: str | None) -> None:
    """One transaction for the batch (or, in a dry run, only the look-ups)."""
    if not batch:
        return
    if args.dry_run:
        for topic, keys in batch.items():
            unique = list(dict.fromkeys(keys))
            existing = await _existing(rt, args.channel, topic, args.reason, unique)
            stats.added += len(unique) - len(existing)
            stats.already += len(existing) + len(keys) - len(unique)
        return
    async with rt.db.transaction() as tx:
        for topic, keys in batch.items():
            added = await add_suppressions(
                tx, channel=args.channel, address_keys=keys, reason=args.reason, source=source,
                topic=topic, list_name=list_name, proof=Proof(source="import"))
            stats.added += len(added)
            stats.already += len(keys) - len(added)
            if getattr(args, "snapshot", False):
                await lists.stage_keys(tx, list_name, keys)


async def _existing(rt: Runtime, channel: str, topic: str | None, reason: str,
                    keys: list[str]) -> set[str]:
    states = await fetch_states(rt.db, channel, keys, fresh=True)
    return {key for key, state in states.items()
            if any(t == (topic or "") and r == reason for t, r in state.suppressions)}


def _counts(stats: Stats, dry_run: bool) -> str:
    would = "would add" if dry_run else "added"
    text = (f"{stats.rows:,} rows: {would} {stats.added:,}, already {stats.already:,}, "
            f"rejected {stats.rejected:,}")
    if stats.size is not None:
        text += f"; lifted {stats.lifted:,} no longer listed; list size {stats.size:,}"
    return text


def run_import(args) -> int:
    """The `import suppressions` command (exit code)."""
    problem = check_import_args(args)
    if problem:
        return _usage(problem, sys.stderr)
    with ExitStack() as stack:
        try:
            binary = open_input(stack, args.file)
            rejects = open_output(stack, args.rejects) if getattr(args, "rejects", None) else None
        except UsageError as exc:
            return _usage(str(exc), sys.stderr)
        try:
            stats = asyncio.run(with_runtime(lambda rt: import_suppressions(
                rt, binary, args, sys.stderr, file_size(binary), rejects),
                tenant=getattr(args, "tenant", DEFAULT_SLUG)))
        except (UnicodeDecodeError, csv.Error) as exc:
            print(f"error: the file stopped being readable UTF-8 CSV ({exc}); "
                  "the batches before it were written", file=sys.stderr)
            return 1
    dry = "Dry run, nothing written: " if args.dry_run else ""
    print(f"{dry}{_counts(stats, args.dry_run)}.", file=sys.stderr)
    if stats.rejected > len(stats.rejections):
        print(f"({stats.rejected - len(stats.rejections):,} more rejected rows not listed)",
              file=sys.stderr)
    failed = getattr(args, "snapshot", False) and stats.size is None
    return 1 if stats.rejected or failed else 0
