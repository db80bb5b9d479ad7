"""The unsubscribe capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (the one-click, the unsubscribe page and its undo: the one-click is
benchmarked, so it runs exactly these statements, one round trip each) and links.py
(`POST /v1/links`: the contacts of the recipients, and those created for unknown addresses).
"""

from __future__ import annotations

# -- the one-click and its undo (logic.py) ------------------------------------------------------
# Is everything the unsubscribe would write already there? (read-only, one query)
DONE_SQL = """
SELECT
 (SELECT status FROM preference WHERE contact_id = $1 AND channel = $2 AND topic = $3),
 (SELECT COUNT(*) FROM address a WHERE a.contact_id = $1 AND a.channel = $2 AND NOT EXISTS (
    SELECT 1 FROM suppression s WHERE s.channel = $2 AND s.address_key = a.address_key
       AND s.topic = $3 AND s.reason = 'unsubscribed'))
"""
# The contact's preference on (channel, topic), read by the undo before it writes.
STATUS_SQL = "SELECT status FROM preference WHERE contact_id = $1 AND channel = $2 AND topic = $3"

# -- the contacts of link recipients (links.py) -------------------------------------------------
LOOKUP_SQLITE = (  # CROSS JOIN: SQLite walks the keys and probes the unique index
    "SELECT a.address_key, a.contact_id FROM json_each($2) AS j"
    " CROSS JOIN address AS a ON a.channel = $1 AND a.address_key = j.value"
)
# Off a transaction, long: sorted keys (probes in index order), the rows as one JSON text (the
# reading thread takes the GIL once, not per row, while the loop parses the next chunk).
LOOKUP_SQLITE_JSON = (
    f"SELECT json_group_array(json_array(address_key, contact_id)) FROM ({LOOKUP_SQLITE})"
)
LOOKUP_PG = (
    "SELECT address_key, contact_id FROM address WHERE channel = $1 AND address_key = ANY($2)"
)
INSERT_CONTACT = (
    "INSERT INTO contact (id, external_ref, restricted, created_at, updated_at)"
    " VALUES ($1, NULL, $2, $3, $3)"
)
INSERT_ADDRESS = (
    "INSERT INTO address (contact_id, channel, address_key, normalized, given, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
INSERT_CONTACTS_PG = (
    "INSERT INTO contact (id, external_ref, restricted, created_at, updated_at)"
    " SELECT id, NULL, $2, $3, $3 FROM unnest(CAST($1 AS text[])) AS t(id)"
)
INSERT_ADDRESSES_PG = (
    "INSERT INTO address (contact_id, channel, address_key, normalized, given, created_at)"
    " SELECT c, $1, k, n, g, $6 FROM unnest(CAST($2 AS text[]), CAST($3 AS text[]),"
    " CAST($4 AS text[]), CAST($5 AS text[])) AS t(c, k, n, g)"
)
