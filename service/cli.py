"""`python -m service <command>`: the operator's command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable

from service import background, transfer
from service.apikeys.logic import (
    ScopeError,
    create_api_key,
    list_api_keys,
    parse_scopes,
    revoke_api_key,
)
from service.capabilities import collect
from service.db.migrate import expected_migration_ids, run_migrations
from service.runtime import with_runtime
from service.settings import ConfigError, get_settings, log_level
from service.tenants.model import DEFAULT_SLUG

# name -> (add_arguments, run(args) -> exit code), gathered from the capabilities.
EXTRA_COMMANDS: dict[str, tuple[Callable, Callable]] = {}


def cmd_migrate(args: argparse.Namespace) -> int:
    get_settings()
    if args.upto is not None and args.upto not in expected_migration_ids():
        print(f"error: --upto: no migration {args.upto!r} in migrations/", file=sys.stderr)
        return 2
    os.environ.setdefault("PICCOLO_CONF", "service.db.piccolo_conf")
    return 0 if asyncio.run(run_migrations(args.upto)) else 1


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn  # the web server: loaded by `serve` only, other commands start faster

    get_settings()  # refuse to start with a bad configuration before forking workers
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        access_log=False,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the background loops (outbox, retention, ...) without the web server."""
    async def run(rt):
        background.start(rt)
        try:
            await asyncio.gather(*rt.tasks.values())
        finally:
            await background.stop(rt)

    asyncio.run(with_runtime(run))
    return 0


def cmd_api_key(args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.name:
            print("error: --name is required", file=sys.stderr)
            return 2
        try:
            scopes = parse_scopes(args.scopes)
        except ScopeError as exc:
            print(f"error: --scopes: {exc}", file=sys.stderr)
            return 2

        async def create(rt):
            return await create_api_key(rt.db, args.name, scopes)

        key_id, secret = asyncio.run(with_runtime(create, tenant=args.tenant))
        print(f"Created API key {key_id} '{args.name}' of the tenant '{args.tenant}' with scopes:"
              f" {' '.join(scopes)}")
        if "operator" in scopes:
            print("An operator key manages every tenant (/v1/tenants) and acts in the one it"
                  " names with X-Tenant: <slug>.")
        print("Store this key now; it is not shown again:")
        print(secret)
        return 0
    if args.action == "list":
        rows = asyncio.run(with_runtime(lambda rt: list_api_keys(rt.db), tenant=args.tenant))
        for r in rows:
            state = "revoked" if r["revoked_at"] else "active"
            print(f"{r['id']}\t{r['name']}\tpsk_{r['prefix']}_…\t{' '.join(r['scopes'])}\t{state}"
                  f"\tlast used {r['last_used_at'] or 'never'}")
        return 0
    if args.action == "revoke":
        if args.id is None:
            print("error: --id is required", file=sys.stderr)
            return 2
        done = asyncio.run(with_runtime(lambda rt: revoke_api_key(rt.db, args.id),
                                        tenant=args.tenant))
        print("revoked" if done else "no active key with that id")
        return 0 if done else 1
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--upto", metavar="ID",
        help="apply the pending migrations up to and including this one (its ID, e.g."
             " 2026-12-09T10:00:00:000000), not the later ones: DEPLOY.md, rolling deploys")
    migrate.set_defaults(fn=cmd_migrate)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(fn=cmd_serve)

    sub.add_parser("worker", help="run background jobs (outbox delivery, retention, ledger"
                   " checkpoints) for every tenant").set_defaults(fn=cmd_worker)

    key = sub.add_parser("api-key", help="create, list or revoke a tenant's API keys")
    key.add_argument("action", choices=["create", "list", "revoke"])
    key.add_argument("--tenant", default=DEFAULT_SLUG, metavar="SLUG",
                     help="the tenant the keys belong to (default: %(default)s)")
    key.add_argument("--name")
    key.add_argument("--scopes", default="admin",
                     help="comma- or space-separated, e.g. contacts:read,suppressions:read;"
                     " `operator` manages tenants")
    key.add_argument("--id", type=int)
    key.set_defaults(fn=cmd_api_key)

    for name, (add_arguments, run) in EXTRA_COMMANDS.items():
        extra = sub.add_parser(name)
        add_arguments(extra)
        extra.set_defaults(fn=run)
    return parser


def _load_extra_commands() -> None:
    """Each `service/<capability>/commands.py` may define COMMANDS:
    name -> (add_arguments(parser), run(args) -> exit code)."""
    EXTRA_COMMANDS.update(transfer.COMMANDS)  # import/export, each kind from its capability
    EXTRA_COMMANDS.update(collect("commands", "COMMANDS"))


async def _nothing(rt) -> None:
    return None


def check_tenant(args: argparse.Namespace) -> None:
    """Stop a command whose `--tenant` names no tenant (UnknownTenant: exit code 1, the message
    on stderr) before it opens a file or writes anything; `with_runtime` would refuse it too,
    but only once an export had created its output file. The default tenant always has its row,
    so the default's commands pay nothing for this."""
    slug = getattr(args, "tenant", None)
    if slug is not None and slug != DEFAULT_SLUG:
        asyncio.run(with_runtime(_nothing, tenant=slug))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=log_level(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _load_extra_commands()
    args = build_parser().parse_args(argv)
    try:
        check_tenant(args)
        code = args.fn(args)
    except ConfigError as exc:
        print(exc.code if isinstance(exc.code, str) else exc, file=sys.stderr)
        code = 1
    sys.exit(code)
