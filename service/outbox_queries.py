"""The outbox's SQL, by name (listmonk's `queries.sql`, as Python constants). The outbox is a
single module (service/outbox.py), so its statements sit beside it rather than in a folder."""

from __future__ import annotations

ENQUEUE = ("INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, next_attempt_at,"
           " created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4)"
           " ON CONFLICT (dedupe_key) DO NOTHING")


def claim_sql(engine: str) -> str:
    """Lock up to $3 due jobs until $1 (now is $2); PostgreSQL skips rows another worker holds,
    SQLite serializes writers anyway."""
    skip_locked = "" if engine == "sqlite" else " FOR UPDATE SKIP LOCKED"
    return ("UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN ("
            " SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2"
            " AND (locked_until IS NULL OR locked_until <= $2) ORDER BY id LIMIT $3"
            f"{skip_locked}) RETURNING id, kind, payload, attempts")


SENT = ("UPDATE outbox SET status = 'sent', sent_at = $1, locked_until = NULL,"
        " last_error = NULL WHERE id = $2")
# Extend a claim, only if no other worker has taken the job since (same attempt).
EXTEND = ("UPDATE outbox SET locked_until = $1 WHERE id = $2 AND attempts = $3"
          " AND status = 'pending'")
FAILED = ("UPDATE outbox SET status = $1, next_attempt_at = $2, locked_until = NULL,"
          " last_error = $3 WHERE id = $4")
