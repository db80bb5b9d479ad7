"""The operations capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by routes.py (readiness), metrics.py (the outbox gauges, read when scraped) and
bench_routes.py (the benchmark's raw SQLite connection, set up as the service's own readers).
"""

from __future__ import annotations

from service.db.sqlite import MMAP_BYTES

# Readiness: the database answers.
PING = "SELECT 1"
# Waiting outbox jobs by kind, every tenant's: how many, and since when (the process's outbox
# gauges; the worker delivers all tenants' jobs).
OUTBOX_PENDING = ("SELECT kind, COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'"
                  " GROUP BY kind")
# The benchmark's raw SQLite connection: WAL, and memory-mapped reads as the service's readers.
WAL = "PRAGMA journal_mode = WAL"
MMAP = f"PRAGMA mmap_size = {MMAP_BYTES}"
