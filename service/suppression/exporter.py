"""`python -m service export suppressions FILE|- [--channel C] [--reason R]`: CSV, streamed.

Columns: channel, address, address_key, topic, reason, source, list_name, created_at. The
suppression list keeps only address keys; `address` is filled from the contact holding the
address when there is one (empty for imported lists, ESP events without a contact, erasures).
The file imports again (`import suppressions` reads `address`, else `address_key`). Written by the
one CSV pipeline (service.csvfiles), with the progress bar on stderr.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import ExitStack

from service.consent.decision import SUPPRESSION_REASONS
from service.contacts.normalize import CHANNELS
from service.csvfiles import UsageError, open_output, write_pages
from service.progress import Progress
from service.runtime import Runtime, with_runtime
from service.suppression import queries as q
from service.tenants.model import DEFAULT_SLUG

PAGE = 5_000
COLUMNS = ["channel", "address", "address_key", "topic", "reason", "source", "list_name",
           "created_at"]


async def export_suppressions(rt: Runtime, out, channel: str | None, reason: str | None,
                              err=sys.stderr) -> int:
    """Write the CSV to `out` page by page (keyset on id); returns the rows written."""
    count_args: list = []
    total = int(await rt.db.fetchval(q.export_count_sql(channel, reason, count_args),
                                     *count_args))
    with Progress("export suppressions", total, err) as progress:
        return await write_pages(out, COLUMNS, _pages(rt, channel, reason), progress, total)


async def _pages(rt: Runtime, channel: str | None, reason: str | None) -> AsyncIterator[list]:
    after = 0
    while True:
        args: list = [after]
        sql = q.export_page_sql(rt.db.engine, channel, reason, args, PAGE)
        rows = await rt.db.fetch_long(sql, *args)
        if not rows:
            return
        yield [[row[1], row[2] or "", row[3], row[4] or "", row[5], row[6], row[7] or "",
                row[8].isoformat() if row[8] else ""] for row in rows]
        after = rows[-1][0]


def run_export(args) -> int:
    """The `export suppressions` command (exit code)."""
    channel = getattr(args, "channel", None)
    reason = getattr(args, "reason", None)
    if channel and channel not in CHANNELS:
        print(f"error: --channel: use one of {', '.join(CHANNELS)}", file=sys.stderr)
        return 2
    if reason and reason not in SUPPRESSION_REASONS:
        print(f"error: --reason: use one of {', '.join(SUPPRESSION_REASONS)}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        try:
            out = open_output(stack, args.file)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        asyncio.run(with_runtime(lambda rt: export_suppressions(rt, out, channel, reason),
                                 tenant=getattr(args, "tenant", DEFAULT_SLUG)))
    return 0
