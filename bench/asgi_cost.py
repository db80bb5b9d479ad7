"""CPU cost per request of a few routes, driven in-process through the ASGI interface (no
network, no load generator): a noise-free view of where the framework and our code spend time.
`python -m bench.asgi_cost` against a cached dataset."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from bench.data import HASH_KEY, SECRET_KEYS, sqlite_dataset


async def call(app, path: str, query: str, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query.encode(), "headers": headers, "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000), "state": {}}
    status = 0

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def main() -> None:
    n = int(os.environ.get("N", "1000"))
    url = f"sqlite:///{sqlite_dataset(10_000)}"
    os.environ.update({"DATABASE_URL": url, "HASH_KEY": HASH_KEY, "SECRET_KEYS": SECRET_KEYS,
                       "BENCH_ROUTES": "true", "RUN_WORKERS_IN_WEB": "false"})
    from service.apikeys.logic import create_api_key
    from service.app import create_app

    app = create_app()
    async with app.lifespan():
        rt = app.state.rt
        _, key = await create_api_key(rt.db, "cost", ["admin"])
        auth = [(b"authorization", f"Bearer {key}".encode()), (b"host", b"localhost")]
        cases = [
            ("/healthz", "", []),
            ("/v1/bench/raw-check", "channel=email&address=user5%40example.com", auth),
            ("/v1/suppressions/check", "channel=email&address=user5%40example.com", auth),
            ("/v1/suppressions/check", "channel=email&address=user5%40example.com&topic=offers",
             auth),
        ]
        best = [float("inf")] * len(cases)
        for path, query, headers in cases:
            assert await call(app, path, query, headers) == 200, path
        for _round in range(int(os.environ.get("ROUNDS", "7"))):  # interleaved; the best round
            for i, (path, query, headers) in enumerate(cases):
                started = time.perf_counter()
                for _ in range(n):
                    await call(app, path, query, headers)
                best[i] = min(best[i], (time.perf_counter() - started) / n * 1e6)
        for (path, query, _), per in zip(cases, best, strict=True):
            print(f"{per:7.1f} µs  {path}?{query}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
