"""`python -m service import|export KIND FILE ...`: one dispatcher for every kind of CSV file.

Each capability registers the kinds it reads and writes in its `commands.py`:
`TRANSFERS = {kind: (run_import(args), run_export(args))}` (contacts: `contacts`, suppression:
`suppressions`), found through the one capability registry (service/capabilities.py), so a
new kind is one entry in its own folder. The options are shared, one parser for every kind;
each kind's runner refuses the options that do not apply to it (exit code 2). Every kind reads
and writes its files through the one CSV pipeline, service/csvfiles.py.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from service.capabilities import collect
from service.contacts.normalize import CHANNELS
from service.tenants.model import DEFAULT_SLUG

Runner = Callable[[argparse.Namespace], int]


def transfers() -> dict[str, tuple[Runner, Runner]]:
    """kind -> (run_import, run_export), in registry order."""
    return collect("commands", "TRANSFERS")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=tuple(transfers()), help="what the file holds")
    parser.add_argument("file", metavar="FILE", help="a CSV file; '-' for standard in/out")
    parser.add_argument("--channel", choices=CHANNELS,
                        help="contacts: the channel of the 'address' column when there is no "
                             "'channel' column; suppressions: the channel of every row")
    add_tenant_argument(parser)


def add_tenant_argument(parser: argparse.ArgumentParser) -> None:
    """`--tenant SLUG`: the tenant whose data a command reads or writes (issue 18); an unknown
    slug stops the command before it opens a file or writes a row (service/cli.py)."""
    parser.add_argument("--tenant", default=DEFAULT_SLUG, metavar="SLUG",
                        help="the tenant whose data this is (default: %(default)s)")


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Import a CSV file, streamed, with a progress bar on stderr and a "
                          "summary of rejected rows. Contacts: see docs/consent.md.")
    _common(parser)
    parser.add_argument("--reason", help="suppressions: the reason of every row")
    parser.add_argument("--source", help="suppressions: the source recorded (contacts: "
                                         "always 'import')")
    parser.add_argument("--list-name", help="suppressions: the external list (e.g. TPS)")
    parser.add_argument("--snapshot", action="store_true",
                        help="suppressions: the file is the whole --list-name list as of "
                             "--as-of; its numbers no longer in it are lifted "
                             "(docs/channels.md)")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD",
                        help="suppressions, with --snapshot: the date of the list")
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
    return transfers()[args.kind][0](args)


def run_export(args: argparse.Namespace) -> int:
    return transfers()[args.kind][1](args)


COMMANDS = {
    "import": (add_import_arguments, run_import),
    "export": (add_export_arguments, run_export),
}
