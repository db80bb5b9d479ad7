"""Batches sized by time, so a bulk write never holds the write lock for long.

An import or a bulk add writes in many short transactions rather than one long one: each holds
the SQLite write lock (or PostgreSQL's feed lock) for about TARGET_SECONDS, so one-clicks,
preference changes and API writes get the lock in between (issue 13: a 10,000-key transaction
made one-clicks wait up to 53 s). The size adapts to what the machine does: after each
transaction the next size is scaled by target / measured time, within [MIN_ROWS, MAX_ROWS].
"""

from __future__ import annotations

import time

TARGET_SECONDS = 0.05  # half the 100 ms bound: a slower batch than measured stays within it
MIN_ROWS, MAX_ROWS = 50, 20_000


class TimedBatches:
    """The row count of the next batch; `timed()` measures one transaction."""

    def __init__(self, first: int = 500, target: float = TARGET_SECONDS):
        self.size, self.target = first, target
        self.longest = 0.0  # the longest transaction measured, for reports and tests

    def record(self, rows: int, seconds: float) -> None:
        self.longest = max(self.longest, seconds)
        if rows < self.size or seconds <= 0:
            return  # a short last batch says little about the rate
        scaled = rows * self.target / seconds
        # Grow gently (a fast batch may have been lucky), shrink at once.
        self.size = int(max(MIN_ROWS, min(MAX_ROWS, min(scaled, self.size * 2))))

    def timed(self, rows: int) -> _Timer:
        return _Timer(self, rows)


class _Timer:
    def __init__(self, batches: TimedBatches, rows: int):
        self.batches, self.rows = batches, rows

    def __enter__(self) -> _Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.batches.record(self.rows, time.perf_counter() - self.started)
