"""`python -m service tenant create --slug S --name N [--group G] [--domain H ...]
[--set key=value ...]`, `tenant update --slug S ...` and `tenant list`: the operator's tenants."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from service.errors import InputError
from service.runtime import with_runtime
from service.settings import TenantSettings
from service.tenants import logic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Create, change or list the tenants of this deployment. A tenant's "
                          "API keys: `python -m service api-key create --tenant SLUG ...`.")
    parser.add_argument("action", choices=["create", "update", "list"])
    parser.add_argument("--slug", help=logic.SLUG_RULE)
    parser.add_argument("--name")
    parser.add_argument("--group", help="controller group (tenants of one data controller)")
    parser.add_argument("--domain", action="append", default=None, metavar="HOST",
                        help="a host name of its recipient pages (repeat for more)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a tenant setting; one of " + ", ".join(TenantSettings.model_fields)
                        + " (update: an empty value unsets it)")


def _line(t: dict) -> str:
    settings = json.dumps(t["settings"], sort_keys=True) if t["settings"] else "-"
    return (f"{t['id']}\t{t['slug']}\t{t['name']}\t{t['controller_group'] or '-'}"
            f"\t{' '.join(t['domains']) or '-'}\t{settings}")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for tenant in asyncio.run(with_runtime(lambda rt: logic.list_tenants(rt.db))):
            print(_line(tenant))
        return 0
    if not args.slug:
        print("error: --slug is required", file=sys.stderr)
        return 2
    try:
        settings = logic.parse_assignments(args.set)
        if args.action == "create":
            tenant = asyncio.run(with_runtime(lambda rt: logic.create_tenant(
                rt.db, rt.tenants, args.slug, args.name or "", args.group,
                {k: v for k, v in settings.items() if v is not None}, args.domain or ())))
            print(f"created tenant {tenant['id']} {tenant['slug']!r}")
        else:
            changes: dict = {"settings": settings} if settings else {}
            for key, value in (("name", args.name), ("controller_group", args.group),
                               ("domains", args.domain)):
                if value is not None:
                    changes[key] = value
            tenant = asyncio.run(with_runtime(
                lambda rt: logic.update_tenant(rt.db, rt.tenants, args.slug, changes)))
            print(f"updated tenant {tenant['id']} {tenant['slug']!r}")
    except InputError as exc:
        print(f"error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2 if exc.status == 422 else 1
    print(_line(tenant))
    return 0


COMMANDS = {"tenant": (add_arguments, run)}
