"""Prometheus metrics at /metrics.

Request rate, latency and errors (by status code) per route template come from MetricsMiddleware,
a lean stand-in for Litestar's Prometheus middleware, which builds a Request, a URL and a label
dict per request (a quarter of a check's cost, profiled); this one caches the labelled children.
Domain metrics: checks by result and reason, unsubscribes by source, outbox depth and age (read
from the database when scraped), replica lag. With several uvicorn workers set
PROMETHEUS_MULTIPROC_DIR so the scrape sums every worker.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from litestar import Response, get
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from service.ops import queries as q
from service.ops.counters import DURATION, OUTBOX_OLDEST, OUTBOX_PENDING, REQUESTS
from service.runtime import RT

log = logging.getLogger("service.metrics")

class MetricsMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_wrapper)
        finally:
            # the route template, never the raw path (ids and tokens would explode cardinality)
            key = (scope["method"], scope.get("path_template") or "unmatched", status)
            children = self._children.get(key)
            if children is None:
                labels = (key[0], key[1], str(status))
                children = self._children[key] = (REQUESTS.labels(*labels),
                                                  DURATION.labels(*labels))
            children[0].inc()
            children[1].observe(perf_counter() - started)


async def refresh_outbox_gauges(rt) -> None:
    rows = await rt.db.fetch(q.OUTBOX_PENDING)
    now = datetime.now(UTC)
    for kind in ("email", "webhook"):
        OUTBOX_PENDING.labels(kind).set(0)
        OUTBOX_OLDEST.labels(kind).set(0)
    for kind, count, oldest in rows:
        OUTBOX_PENDING.labels(kind).set(count)
        if oldest is not None:
            if isinstance(oldest, str):
                oldest = datetime.fromisoformat(oldest)
            OUTBOX_OLDEST.labels(kind).set((now - oldest).total_seconds())


# Litestar adds the charset itself; the schema documents this type (not JSON)
_METRICS_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


@get("/metrics", operation_id="getMetrics",
     include_in_schema=True, tags=["operations"], media_type=_METRICS_TYPE)
async def metrics(rt: RT) -> Response[bytes]:
    """Prometheus metrics."""
    try:
        await refresh_outbox_gauges(rt)
    except Exception as exc:  # metrics must answer even when the database does not
        log.warning("outbox gauges not refreshed: %s", type(exc).__name__)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=_METRICS_TYPE)
