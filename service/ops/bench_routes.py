"""The database ceiling for the benchmark: the check's look-up on the raw driver.

Mounted only with BENCH_ROUTES=true, under /v1 behind the same API-key check and rate limit as
the real check, so the two differ only in what the handler does: this one computes the address
key, runs the same state query directly on sqlite3 / asyncpg and returns the rows as JSON.
"""

from __future__ import annotations

import sqlite3

import msgspec
from litestar import Request, get
from litestar.types import ASGIApp

from service.consent.state_queries import STATE_SQL
from service.db.sqlite import sqlite_path, to_sqlite
from service.ops import queries as q
from service.suppression.check import JSONAnswer
from service.tenants.resolve import request_runtime

_raw: dict[str, sqlite3.Connection] = {}
_encode = msgspec.json.Encoder().encode


def _sqlite_conn(url: str) -> sqlite3.Connection:
    conn = _raw.get(url)
    if conn is None:
        conn = _raw[url] = sqlite3.connect(sqlite_path(url), check_same_thread=False)
        conn.execute(q.WAL)
        conn.execute(q.MMAP)  # as the service's own readers
    return conn


@get("/bench/raw-check", include_in_schema=False, opt={"scope": "suppressions:read"})
async def raw_check(request: Request) -> ASGIApp:
    rt = request_runtime(request.scope)
    channel = request.query_params.get("channel", "email")
    address = request.query_params.get("address", "").strip()
    key = rt.keyer.key(channel, address)
    # the raw connections bypass the tenant's view: the tenant goes in $1 by hand
    if rt.db.is_sqlite:
        rows = _sqlite_conn(rt.db.url).execute(to_sqlite(STATE_SQL.plain),
                                               (rt.tenant_id, channel, key)).fetchall()
    else:
        rows = await rt.db.pool.fetch(STATE_SQL.plain, rt.tenant_id, channel, key)
    # answered the way the real check answers (finished bytes as a raw ASGI response), so the
    # two routes differ only in the look-up and the rules
    return JSONAnswer(_encode({"address": address, "rows": [tuple(r)[:3] for r in rows]}))


route_handlers = [raw_check]
