"""`python -m service import|export contacts|suppressions FILE ...`: one dispatcher for both.

Contacts are handled here (service.contacts.importer: CRM headers, `--map COLUMN=FIELD`,
`--rejects FILE`); suppressions by `service.suppression.importer.run_import(args)` and
`service.suppression.exporter.run_export(args)`, which read args.file, args.channel,
args.reason, args.source, args.list_name, args.dry_run and args.rejects. Both kinds read and
write their files through service.csvfiles.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from contextlib import ExitStack

from service.contacts import import_columns, importer
from service.contacts.normalize import CHANNELS
from service.csvfiles import UsageError, file_size, open_input, open_output
from service.errors import InputError
from service.progress import Progress
from service.runtime import with_runtime
from service.suppression import exporter as suppression_exporter
from service.suppression import importer as suppression_importer

KINDS = ("contacts", "suppressions")
SUPPRESSION_ONLY = ("reason", "list_name")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="what the file holds")
    parser.add_argument("file", metavar="FILE", help="a CSV file; '-' for standard in/out")
    parser.add_argument("--channel", choices=CHANNELS,
                        help="contacts: the channel of the 'address' column when there is no "
                             "'channel' column; suppressions: the channel of every row")


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Import a CSV file, streamed, with a progress bar on stderr and a "
                          "summary of rejected rows. Contacts: see docs/consent.md.")
    _common(parser)
    parser.add_argument("--reason", help="suppressions: the reason of every row")
    parser.add_argument("--source", help="suppressions: the source recorded (contacts: "
                                         "always 'import')")
    parser.add_argument("--list-name", help="suppressions: the external list (e.g. TPS)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check every row and report, but write nothing")
    parser.add_argument("--rejects", metavar="FILE",
                        help="also write every rejected row, with its line and reason, here")
    parser.add_argument("--map", metavar="COLUMN=FIELD", action="append", default=[],
                        help="contacts: read this column as FIELD (email, sms, phone, fax, "
                             "post, external_ref, topic, status, ..., or ignore); repeatable")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Export as CSV, streamed (FILE '-' writes to standard output)."
    _common(parser)
    parser.add_argument("--reason", help="suppressions: only this reason")


def run_import(args: argparse.Namespace) -> int:
    if args.kind == "suppressions":
        if getattr(args, "map", None):
            print("error: --map applies to contacts only", file=sys.stderr)
            return 2
        return suppression_importer.run_import(args)
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
                progress=progress, rejects=rejects, mapping=mapping)))
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
    if args.kind == "suppressions":
        return suppression_exporter.run_export(args)
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
            lambda rt: importer.export_contacts(rt, out, args.channel)))
    print(f"Exported {count:,} rows.", file=sys.stderr)
    return 0


COMMANDS = {
    "import": (add_import_arguments, run_import),
    "export": (add_export_arguments, run_export),
}
