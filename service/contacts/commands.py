"""The contacts kind of `python -m service import|export` (dispatched by service/transfer.py).

`import contacts` (service.contacts.importer: CRM headers, `--map COLUMN=FIELD`, `--rejects
FILE`) and `export contacts`; the suppression-only options are refused here (exit code 2).
Files are read and written through the one CSV pipeline, service.csvfiles.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from contextlib import ExitStack

from service.contacts import import_columns, importer
from service.csvfiles import UsageError, file_size, open_input, open_output
from service.errors import InputError
from service.progress import Progress
from service.runtime import with_runtime

SUPPRESSION_ONLY = ("reason", "list_name", "snapshot", "as_of")


def run_import(args: argparse.Namespace) -> int:
    """The `import contacts` command (exit code)."""
    given = [f"--{n.replace('_', '-')}" for n in SUPPRESSION_ONLY if getattr(args, n, None)]
    if given or args.source not in (None, "import"):
        print(f"error: {', '.join(given) or '--source'} applies to suppressions only; "
              "contact consents are recorded with source 'import'", file=sys.stderr)
        return 2
    try:
        mapping = import_columns.parse_mapping(getattr(args, "map", None) or [])
    except InputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        try:
            binary = open_input(stack, args.file)
            rejects = open_output(stack, args.rejects) if args.rejects else None
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        progress = stack.enter_context(Progress("import contacts", file_size(binary)))
        try:
            stats = asyncio.run(with_runtime(lambda rt: importer.import_contacts(
                rt, binary, default_channel=args.channel, dry_run=args.dry_run,
                progress=progress, rejects=rejects, mapping=mapping), tenant=args.tenant))
        except InputError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        except (UnicodeDecodeError, csv.Error) as exc:
            done = "" if args.dry_run else "; the batches before it were imported"
            print(f"error: the file stopped being readable UTF-8 CSV ({exc}){done}",
                  file=sys.stderr)
            return 1
    _summary(stats, args.dry_run)
    return 1 if stats.rejected else 0


def _summary(stats, dry_run: bool) -> None:
    would = "would be " if dry_run else ""
    print(f"{'Dry run: nothing was written. ' if dry_run else ''}{stats.rows:,} rows read; "
          f"contacts {would}created: {stats.created:,}, matched: {stats.matched:,}; "
          f"consents {would}recorded: {stats.consents:,}, already so: {stats.unchanged:,}, "
          f"older than the preference held (skipped): {stats.stale:,}; "
          f"rejected: {stats.rejected:,}.")
    if stats.batches:
        print(f"{'Checked' if dry_run else 'Written'} in {stats.batches:,} "
              f"transaction{'s' if stats.batches > 1 else ''} "
              f"(the longest {stats.longest * 1000:.0f} ms).")
    if stats.unused:
        print(f"Columns not imported (never stored): {', '.join(stats.unused)}.")
    if stats.rows and not stats.imported:
        print(f"Every row was rejected: nothing {'would be ' if dry_run else ''}written. "
              "The reasons of the first rows are below.", file=sys.stderr)
    if stats.rejected:
        print("Rejected rows:", file=sys.stderr)
        for line, reason in stats.rejections:
            print(f"  row {line}: {reason}", file=sys.stderr)
        if stats.rejected > len(stats.rejections):
            print(f"  ... and {stats.rejected - len(stats.rejections):,} more "
                  "(--rejects FILE writes them all)", file=sys.stderr)


def run_export(args: argparse.Namespace) -> int:
    """The `export contacts` command (exit code)."""
    if args.reason:
        print("error: --reason applies to suppressions only", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        try:
            out = open_output(stack, args.file)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        count = asyncio.run(with_runtime(
            lambda rt: importer.export_contacts(rt, out, args.channel), tenant=args.tenant))
    print(f"Exported {count:,} rows.", file=sys.stderr)
    return 0


TRANSFERS = {"contacts": (run_import, run_export)}
