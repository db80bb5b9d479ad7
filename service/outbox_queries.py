"""The outbox's SQL, by name (listmonk's `queries.sql`, as Python constants). The outbox is a
single module (service/outbox.py), so its statements sit beside it rather than in a folder.

A job belongs to the tenant that queued it (`$1` of a `Scoped` statement, issue 18); the worker
claims due jobs of every tenant at once and handles each in its own tenant.
"""

from __future__ import annotations

from service.db.scoped import Scoped

ENQUEUE = Scoped(
    "INSERT INTO outbox (tenant_id, kind, payload, dedupe_key, status, attempts,"
    " next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)"
    " ON CONFLICT (tenant_id, dedupe_key) DO NOTHING")


def claim_sql(engine: str) -> str:
    """Lock up to $3 due jobs of every tenant until $1 (now is $2), with the tenant of each;
    PostgreSQL skips rows another worker holds, SQLite serializes writers anyway."""
    skip_locked = "" if engine == "sqlite" else " FOR UPDATE SKIP LOCKED"
    return ("UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN ("
            " SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2"
            " AND (locked_until IS NULL OR locked_until <= $2) ORDER BY id LIMIT $3"
            f"{skip_locked}) RETURNING id, tenant_id, kind, payload, attempts")


# By the claimed job's id, in the job's tenant.
SENT = Scoped("UPDATE outbox SET status = 'sent', sent_at = $2, locked_until = NULL,"
              " last_error = NULL WHERE tenant_id = $1 AND id = $3")
# Extend a claim, only if no other worker has taken the job since (same attempt).
EXTEND = Scoped("UPDATE outbox SET locked_until = $2 WHERE tenant_id = $1 AND id = $3"
                " AND attempts = $4 AND status = 'pending'")
FAILED = Scoped("UPDATE outbox SET status = $2, next_attempt_at = $3, locked_until = NULL,"
                " last_error = $4 WHERE tenant_id = $1 AND id = $5")
