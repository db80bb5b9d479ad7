"""The sends capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (recording what mailers sent). The send decision reads `send_log` through the
state query of service/consent/queries.py; retention prunes it (service/privacy/queries.py).
"""

from __future__ import annotations

# Every row of a request has the same channel, topic, time and campaign: only the keys vary,
# so they go as one parameter, not as a row each. At 1,000,000 recorded sends the time is the
# index insertion of random keys (~19 µs a row on SQLite, whichever way the rows arrive).
# SQLite: $2 a JSON array of keys, written in time-sized batches (the write lock).
SQLITE_INSERT = ("INSERT INTO send_log (channel, address_key, topic, sent_at, campaign)"
                 " SELECT $1, value, $3, $4, $5 FROM json_each($2)")
# PostgreSQL: $2 a text[] of keys, the whole request in one statement (no lock is held that
# another writer waits for: send_log is written by nothing else).
PG_INSERT = ("INSERT INTO send_log (channel, address_key, topic, sent_at, campaign)"
             " SELECT CAST($1 AS varchar), unnest(CAST($2 AS text[])), CAST($3 AS varchar),"
             " CAST($4 AS timestamptz), CAST($5 AS varchar)")
