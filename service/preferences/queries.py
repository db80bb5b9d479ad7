"""The preferences capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

The preference centre reads and writes consent through consent/ and contacts/ (their
queries.py); what is its own is the cost "email me a link" pays for an unknown address
(links.py), so that the answer takes as long whether the address is known or not.
"""

from __future__ import annotations

# An outbox row that is already done ($1 payload, $2 dedupe key, $3 now): written instead of the
# email job for an unknown or undeliverable address (links.record_noop).
RECORD_NOOP = (
    "INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, next_attempt_at,"
    " created_at, sent_at) VALUES ('noop', $1, $2, 'sent', 0, $3, $3, $3)"
    " ON CONFLICT (dedupe_key) DO NOTHING"
)
