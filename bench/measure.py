"""The individual measurements, each against a running Server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time

import asyncpg
import httpx

from bench.data import address, keys
from bench.load import lua_get_random, lua_post_tokens, wrk, wrk_many
from bench.server import Server
from service.db.sqlite import sqlite_path

BULK = 100_000


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def healthz(server: Server) -> float:
    return wrk(server.base + "/healthz", "").rps


def raw_check(server: Server, key: str, n: int) -> float:
    lua = lua_get_random("/v1/bench/raw-check?channel=email&address=user{i}%40example.com",
                         2 * n, auth(key))
    return wrk(server.base, lua).rps


CHECK_PATH = "/v1/suppressions/check?channel=email&address=user{i}%40example.com&topic=offers"


def check(server: Server, key: str, n: int, connections: int = 32):
    result = wrk(server.base, lua_get_random(CHECK_PATH, 2 * n, auth(key)),
                 connections=connections)
    if result.errors:
        raise RuntimeError(f"check answered {result.errors} errors")
    return result


def check_instances(servers: list[Server], key: str, n: int, connections: int = 64) -> float:
    """Checks per second of several service instances on one database, each loaded by its
    own wrk at the same time (what a load balancer in front of them would spread)."""
    lua = lua_get_random(CHECK_PATH, 2 * n, auth(key))
    results = wrk_many([(server.base, lua) for server in servers], connections=connections)
    errors = sum(r.errors for r in results)
    if errors:
        raise RuntimeError(f"check answered {errors} errors")
    return sum(r.rps for r in results)


def bulk_check(server: Server, key: str, n: int) -> tuple[float, tuple[int, int], dict]:
    """(addresses per second end to end over HTTP, (peak RSS, peak anonymous) bytes, answer
    summary): the better of two timed requests after a warm-up one, as for the raw join."""
    step = max(1, (2 * n) // BULK)
    addresses = [address(i) for i in range(0, step * BULK, step)][:BULK]
    body = {"channel": "email", "topic": "offers", "addresses": addresses}
    best = float("inf")
    with httpx.Client(base_url=server.base, headers=auth(key), timeout=300) as client:
        client.post("/v1/suppressions/check", json=body).raise_for_status()
        with server.sample_memory():
            for _ in range(2):
                started = time.perf_counter()
                response = client.post("/v1/suppressions/check", json=body)
                best = min(best, time.perf_counter() - started)
    response.raise_for_status()
    answer = response.json()
    summary = {"checked": answer["checked"], "blocked": len(answer["blocked"]),
               "invalid": len(answer["invalid"])}
    return BULK / best, (server.peak_rss, server.peak_anon), summary


SQLITE_JOIN = ("SELECT s.address_key, s.topic, s.reason FROM json_each(?) k"
               " CROSS JOIN suppression s ON s.channel = 'email' AND s.address_key = k.value")
PG_JOINS = ("SELECT address_key, topic, reason FROM suppression"
            " WHERE channel = 'email' AND address_key = ANY($1::text[])",
            "SELECT s.address_key, s.topic, s.reason FROM unnest($1::text[]) k(key)"
            " JOIN suppression s ON s.channel = 'email' AND s.address_key = k.key")


def raw_join(database_url: str, n: int) -> float:
    """Addresses per second of the bare SQL join of the same 100,000 keys against the table,
    on the raw driver: the keys already computed and sorted, the fastest of the join's forms,
    the better of two runs after a warm-up one (the bulk check is timed the same way)."""
    step = max(1, (2 * n) // BULK)
    wanted = sorted(k for i, k in enumerate(keys(step * BULK)) if i % step == 0)[:BULK]
    times = []
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(database_url))
        arg = json.dumps(wanted)
        for run in range(3):
            started = time.perf_counter()
            rows = conn.execute(SQLITE_JOIN, (arg,)).fetchall()
            if run:  # the first one warms the caches
                times.append(time.perf_counter() - started)
        conn.close()
    else:
        async def run_all():
            conn = await asyncpg.connect(database_url)
            try:
                for sql in PG_JOINS:
                    for run in range(3):
                        started = time.perf_counter()
                        rows = await conn.fetch(sql, wanted)
                        if run:
                            times.append(time.perf_counter() - started)
                return rows
            finally:
                await conn.close()

        rows = asyncio.run(run_all())
    assert len(rows) > 0
    return BULK / min(times)


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
