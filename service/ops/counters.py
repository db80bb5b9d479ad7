"""The service's Prometheus counters and gauges: a leaf module (it imports nothing of the
service), so any layer may count without depending on the web framework. The `/metrics` route
and the request middleware live in `service.ops.metrics`.

Domain metrics: checks by result and reason, unsubscribes by source (counted after their
transaction commits), outbox depth and age, replica lag, and the HTTP request metrics.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

CHECKS = Counter("prefs_checks_total", "Send decisions answered", ["result", "reason"])
UNSUBSCRIBES = Counter("prefs_unsubscribes_total", "Opt-outs recorded", ["source"])
STALE_LIST_CHECKS = Counter("prefs_external_list_stale_checks_total",
                            "Marketing checks answered while a national list was past its "
                            "maximum age", ["list", "mode"])
OUTBOX_PENDING = Gauge("prefs_outbox_pending", "Outbox jobs waiting", ["kind"],
                       multiprocess_mode="max")
OUTBOX_OLDEST = Gauge("prefs_outbox_oldest_pending_seconds", "Age of the oldest waiting job",
                      ["kind"], multiprocess_mode="max")
REPLICA_LAG = Gauge("prefs_replica_lag_seconds", "Replay lag of each read replica", ["replica"],
                    multiprocess_mode="max")

REQUESTS = Counter("prefs_requests_total", "HTTP requests answered",
                   ["method", "path", "status_code"])
DURATION = Histogram("prefs_request_duration_seconds", "Time to answer an HTTP request",
                     ["method", "path", "status_code"],
                     buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10))


_check_children: dict[tuple[str, str], Any] = {}


def _check_child(result: str, reason: str) -> Any:
    child = _check_children.get((result, reason))
    if child is None:
        child = _check_children[(result, reason)] = CHECKS.labels(result, reason)
    return child


def observe_check(reasons: list[str]) -> None:
    """Count one decision (the labelled children are cached: this is on the hot path)."""
    if not reasons:
        _check_child("allowed", "").inc()
    for reason in reasons:
        _check_child("blocked", reason).inc()


def observe_checks(tallies: Iterable[tuple[list[str], int]]) -> None:
    """Many decisions at once (bulk), as (reasons, how many got them): one increment per
    distinct label."""
    tally: Tally = Tally()
    for reasons, count in tallies:
        if not reasons:
            tally[("allowed", "")] += count
        for reason in reasons:
            tally[("blocked", reason)] += count
    for (result, reason), count in tally.items():
        _check_child(result, reason).inc(count)
