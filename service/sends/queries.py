"""The sends capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (recording what mailers sent). The send decision reads `send_log` through the
state query of service/consent/state_queries.py; retention prunes it (service/privacy/queries.py).
"""

from __future__ import annotations

from service.db.scoped import Scoped

# Every row of a request has the same channel, topic, time and campaign: only the keys vary,
# so they go as one parameter, not as a row each, in key order. The keys are random, so a
# request puts an entry in nearly every leaf of send_log's index: its one index is narrow
# (`send_log_tenant_key_prefix`, the tenant and the key's first 16 hex digits; migrations
# 2026-12-08T01:00 and T1), which at 1,000,000 recorded sends took SQLite's write of 100,000
# keys from ~1.1 s to ~0.4 s.
# Scoped (issue 18): $1 is the tenant, the caller's parameters start at $2.
# SQLite: $3 a JSON array of keys, written in time-sized batches (the write lock).
SQLITE_INSERT = Scoped(
    "INSERT INTO send_log (tenant_id, channel, address_key, topic, sent_at, campaign)"
    " SELECT $1, $2, value, $4, $5, $6 FROM json_each($3)")
# PostgreSQL: $3 the keys joined by commas (hex keys hold none: cheaper to send and to read
# than a text[], as for the bulk check), the whole request in one statement (no lock is held
# that another writer waits for: send_log is written by nothing else).
PG_INSERT = Scoped(
    "INSERT INTO send_log (tenant_id, channel, address_key, topic, sent_at, campaign)"
    " SELECT CAST($1 AS integer), CAST($2 AS varchar), unnest(string_to_array($3, ',')),"
    " CAST($4 AS varchar), CAST($5 AS timestamptz), CAST($6 AS varchar)")
