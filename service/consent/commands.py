"""`python -m service ledger verify [--contact ID]` and `python -m service ledger checkpoint`:
prove the consent ledger has not been edited (docs/privacy.md, "Tamper-evident ledger")."""

from __future__ import annotations

import argparse
import asyncio

from service.consent.verify import verify, write_checkpoint
from service.runtime import with_runtime
from service.transfer import add_tenant_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Verify the consent ledger's hash chains (and the latest checkpoint),"
                          " or write a checkpoint of their heads now.")
    parser.add_argument("action", choices=["verify", "checkpoint"])
    parser.add_argument("--contact", metavar="ID",
                        help="verify: only this contact's chain (no checkpoint check)")
    add_tenant_argument(parser)  # a tenant's chains and checkpoints are its own


def run(args: argparse.Namespace) -> int:
    if args.action == "checkpoint":
        if args.contact:
            print("error: --contact goes with verify only")
            return 2
        point = asyncio.run(with_runtime(lambda rt: write_checkpoint(rt.db),
                                         tenant=args.tenant))
        print(f"wrote {point.line()}")
        return 0
    report = asyncio.run(with_runtime(lambda rt: verify(rt.db, args.contact),
                                      tenant=args.tenant))
    if report.mismatch is not None:
        print(report.mismatch.message())
        print(f"(checked {report.events} events in {report.chains} chains before it)")
        return 1
    print(f"verified {report.events} events in {report.chains} chains")
    if report.checkpoint is not None:
        print(f"matches {report.checkpoint.line()}")
    elif args.contact is None:
        print("no checkpoint yet: write one with `python -m service ledger checkpoint`")
    return 0


COMMANDS = {"ledger": (add_arguments, run)}
