"""The unsubscribe capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (the one-click, the unsubscribe page and its undo: the one-click is
benchmarked, so it runs exactly these statements, one round trip each) and links.py
(`POST /v1/links`: the contacts of the recipients, and those created for unknown addresses).
Every statement is the tenant's (`Scoped`: `$1` is the tenant id, issue 18).
"""

from __future__ import annotations

from service.db.scoped import Scoped

# -- the one-click and its undo (logic.py) ------------------------------------------------------
# Is everything the unsubscribe would write already there? (read-only, one query)
DONE_SQL = Scoped("""
SELECT
 (SELECT status FROM preference WHERE tenant_id = $1 AND contact_id = $2 AND channel = $3
    AND topic = $4),
 (SELECT COUNT(*) FROM address a WHERE a.tenant_id = $1 AND a.contact_id = $2 AND a.channel = $3
    AND NOT EXISTS (
    SELECT 1 FROM suppression s WHERE s.tenant_id = $1 AND s.channel = $3
       AND s.address_key = a.address_key AND s.topic = $4 AND s.reason = 'unsubscribed'))
""")
# The contact's preference on (channel, topic), read by the undo before it writes.
STATUS_SQL = Scoped("SELECT status FROM preference WHERE tenant_id = $1 AND contact_id = $2"
                    " AND channel = $3 AND topic = $4")

# -- the contacts of link recipients (links.py) -------------------------------------------------
LOOKUP_SQLITE = Scoped(  # CROSS JOIN: SQLite walks the keys and probes the unique index
    "SELECT a.address_key, a.contact_id FROM json_each($3) AS j"
    " CROSS JOIN address AS a ON a.tenant_id = $1 AND a.channel = $2 AND a.address_key = j.value"
)
# Off a transaction, long: sorted keys (probes in index order), the rows as one JSON text (the
# reading thread takes the GIL once, not per row, while the loop parses the next chunk).
LOOKUP_SQLITE_JSON = Scoped(
    f"SELECT json_group_array(json_array(address_key, contact_id)) FROM ({LOOKUP_SQLITE})"
)
LOOKUP_PG = Scoped(
    "SELECT address_key, contact_id FROM address"
    " WHERE tenant_id = $1 AND channel = $2 AND address_key = ANY($3)"
)
INSERT_CONTACT = Scoped(
    "INSERT INTO contact (tenant_id, id, external_ref, restricted, created_at, updated_at)"
    " VALUES ($1, $2, NULL, $3, $4, $4)"
)
INSERT_ADDRESS = Scoped(
    "INSERT INTO address (tenant_id, contact_id, channel, address_key, normalized, given,"
    " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
INSERT_CONTACTS_PG = Scoped(
    "INSERT INTO contact (tenant_id, id, external_ref, restricted, created_at, updated_at)"
    " SELECT $1, id, NULL, $3, $4, $4 FROM unnest(CAST($2 AS text[])) AS t(id)"
)
INSERT_ADDRESSES_PG = Scoped(
    "INSERT INTO address (tenant_id, contact_id, channel, address_key, normalized, given,"
    " created_at)"
    " SELECT $1, c, $2, k, n, g, $7 FROM unnest(CAST($3 AS text[]), CAST($4 AS text[]),"
    " CAST($5 AS text[]), CAST($6 AS text[])) AS t(c, k, n, g)"
)
