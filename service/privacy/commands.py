"""`python -m service retention [--once] [--dry-run] [--tenant SLUG]`: apply the retention
settings now, or run the retention schedule as its own process."""

from __future__ import annotations

import argparse
import asyncio

from service.privacy.jobs import retention_loop
from service.privacy.retention import retention_once
from service.runtime import with_runtime
from service.tenants.model import DEFAULT_SLUG


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Remove personal data past its retention period (RETENTION_* "
                          "settings, and each tenant's own); logs what it removed, by count.")
    parser.add_argument("--once", action="store_true",
                        help="one pass now, then exit (default: run on the schedule)")
    parser.add_argument("--dry-run", action="store_true",
                        help="with --once: only count what would be removed")
    # None, not `default`: the schedule without --tenant serves every tenant, as the worker
    parser.add_argument("--tenant", metavar="SLUG",
                        help="only this tenant's data (default: --once, the default tenant;"
                             " the schedule, every tenant)")


def run(args: argparse.Namespace) -> int:
    async def main(rt) -> int:
        if not args.once:
            await retention_loop(rt, every_tenant=args.tenant is None)
            return 0
        counts = await retention_once(rt.db, rt.settings, dry_run=args.dry_run)
        if counts is None:
            print("Another instance is running retention right now; nothing done.")
            return 1
        verb = "Would remove" if args.dry_run else "Removed"
        print(f"{verb}: {counts.summary()}.")
        return 0

    if args.dry_run and not args.once:
        print("error: --dry-run needs --once")
        return 2
    return asyncio.run(with_runtime(main, tenant=args.tenant or DEFAULT_SLUG))


COMMANDS = {"retention": (add_arguments, run)}
