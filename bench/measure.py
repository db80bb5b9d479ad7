"""The individual measurements, each against a running Server."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time

import asyncpg
import httpx

from bench.data import address, keys
from bench.load import lua_get_random, lua_post_tokens, wrk
from bench.server import Server
from service.db.engine import sqlite_path

BULK = 100_000


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def healthz(server: Server) -> float:
    return wrk(server.base + "/healthz", "").rps


def raw_check(server: Server, key: str, n: int) -> float:
    lua = lua_get_random("/v1/bench/raw-check?channel=email&address=user{i}%40example.com",
                         2 * n, auth(key))
    return wrk(server.base, lua).rps


def check(server: Server, key: str, n: int, connections: int = 32):
    lua = lua_get_random(
        "/v1/suppressions/check?channel=email&address=user{i}%40example.com&topic=offers",
        2 * n, auth(key))
    result = wrk(server.base, lua, connections=connections)
    if result.errors:
        raise RuntimeError(f"check answered {result.errors} errors")
    return result


def bulk_check(server: Server, key: str, n: int) -> tuple[float, int, dict]:
    """(addresses per second end to end over HTTP, peak RSS bytes, answer summary)."""
    step = max(1, (2 * n) // BULK)
    addresses = [address(i) for i in range(0, step * BULK, step)][:BULK]
    body = {"channel": "email", "topic": "offers", "addresses": addresses}
    with httpx.Client(base_url=server.base, headers=auth(key), timeout=300) as client:
        client.post("/v1/suppressions/check", json={**body, "addresses": addresses[:1000]})
        with server.sample_memory():
            started = time.perf_counter()
            response = client.post("/v1/suppressions/check", json=body)
            elapsed = time.perf_counter() - started
    response.raise_for_status()
    answer = response.json()
    summary = {"checked": answer["checked"], "blocked": len(answer["blocked"]),
               "invalid": len(answer["invalid"])}
    return BULK / elapsed, server.peak_rss, summary


def raw_join(database_url: str, n: int) -> float:
    """Addresses per second of the bare SQL join of 100,000 keys against the table."""
    step = max(1, (2 * n) // BULK)
    wanted = [k for i, k in enumerate(keys(step * BULK)) if i % step == 0][:BULK]
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(database_url))
        started = time.perf_counter()
        conn.execute("CREATE TEMP TABLE wanted (k TEXT)")
        conn.executemany("INSERT INTO wanted VALUES (?)", [(k,) for k in wanted])
        rows = conn.execute(
            "SELECT w.k, s.topic, s.reason FROM wanted w JOIN suppression s"
            " ON s.channel = 'email' AND s.address_key = w.k").fetchall()
        elapsed = time.perf_counter() - started
        conn.close()
    else:
        async def run():
            conn = await asyncpg.connect(database_url)
            try:
                await conn.fetch("SELECT 1")
                started = time.perf_counter()
                rows = await conn.fetch(
                    "SELECT address_key, topic, reason FROM suppression"
                    " WHERE channel = 'email' AND address_key = ANY($1::text[])", wanted)
                return rows, time.perf_counter() - started
            finally:
                await conn.close()

        rows, elapsed = asyncio.run(run())
    assert len(rows) > 0
    return BULK / elapsed


def links(server: Server, key: str, count: int, prefix: str) -> tuple[float, float, list[str]]:
    """(links/s creating contacts, links/s for known contacts, unsubscribe tokens)."""
    recipients = [{"channel": "email", "address": f"{prefix}{i}@example.com", "topic": "offers",
                   "campaign": "bench"} for i in range(count)]
    with httpx.Client(base_url=server.base, headers=auth(key), timeout=300) as client:
        started = time.perf_counter()
        first = client.post("/v1/links", json={"recipients": recipients})
        first_rate = count / (time.perf_counter() - started)
        first.raise_for_status()
        started = time.perf_counter()
        again = client.post("/v1/links", json={"recipients": recipients})
        again_rate = count / (time.perf_counter() - started)
        again.raise_for_status()
    tokens = [link["unsubscribe_url"].rsplit("/u/", 1)[1] for link in first.json()["links"]]
    return first_rate, again_rate, tokens


def one_click(server: Server, tokens: list[str]) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(tokens))
        name = fh.name
    result = wrk(server.base, lua_post_tokens(name), connections=16)
    if result.errors:
        raise RuntimeError(f"one-click answered {result.errors} errors")
    return result.rps
