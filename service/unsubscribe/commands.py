"""`python -m service smtp`: the inbound SMTP listener for mailto: unsubscribes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from service.runtime import with_runtime
from service.settings import get_settings
from service.unsubscribe.inbound import start_server

log = logging.getLogger("service.unsubscribe.mailto")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Receive mailto: unsubscribes (mail to UNSUBSCRIBE_MAILTO with the "
                          "token in the local part or subject).")
    parser.add_argument("--host", help="default: INBOUND_SMTP_HOST")
    parser.add_argument("--port", type=int, help="default: INBOUND_SMTP_PORT")


async def serve(rt, host: str, port: int) -> None:
    server = await start_server(rt, host, port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.close)
    log.info("mailto unsubscribe listener on %s:%d for %s", host, port,
             rt.settings.unsubscribe_mailto)
    async with server:
        try:
            await server.serve_forever()
        except asyncio.CancelledError:
            pass  # server.close() on SIGTERM/SIGINT: a clean stop


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.unsubscribe_mailto or "@" not in settings.unsubscribe_mailto:
        print("error: set UNSUBSCRIBE_MAILTO (local@domain) to receive mailto: unsubscribes",
              file=sys.stderr)
        return 2
    asyncio.run(with_runtime(serve, args.host or settings.inbound_smtp_host,
                             args.port or settings.inbound_smtp_port))
    return 0


COMMANDS = {"smtp": (add_arguments, run)}
