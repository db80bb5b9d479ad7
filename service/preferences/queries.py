"""The preferences capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

The preference centre reads and writes consent through consent/ and contacts/ (their
queries.py); what is its own is the cost "email me a link" pays for an unknown address
(links.py), so that the answer takes as long whether the address is known or not.
"""

from __future__ import annotations

from service.db.scoped import Scoped

# An outbox row that is already done ($2 payload, $3 dedupe key, $4 now): written instead of the
# email job for an unknown or undeliverable address (links.record_noop). Its conflict target is
# the tenant's dedupe unique, the one the email job (outbox ENQUEUE) names.
RECORD_NOOP = Scoped(
    "INSERT INTO outbox (tenant_id, kind, payload, dedupe_key, status, attempts,"
    " next_attempt_at, created_at, sent_at) VALUES ($1, 'noop', $2, $3, 'sent', 0, $4, $4, $4)"
    " ON CONFLICT (tenant_id, dedupe_key) DO NOTHING"
)
