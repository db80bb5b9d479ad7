"""The contacts capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by store.py (one contact by address, in the caller's transaction), logic.py (the API's
upsert, read, change) and import_writes.py (the import's set-based batches).
"""

from __future__ import annotations

from service.db.keys import keys_from, rows_from

# -- one contact and its addresses -------------------------------------------------------------
BY_ADDRESS = "SELECT contact_id FROM address WHERE channel = $1 AND address_key = $2"
CREATE = ("INSERT INTO contact (id, external_ref, restricted, created_at, updated_at)"
          " VALUES ($1, $2, $3, $4, $4)")
ADDRESS_COLUMNS = ("contact_id", "channel", "address_key", "normalized", "given", "created_at")
ADD_ADDRESS = (f"INSERT INTO address ({', '.join(ADDRESS_COLUMNS)})"
               " VALUES ($1, $2, $3, $4, $5, $6)")
REMOVE_ADDRESS = "DELETE FROM address WHERE contact_id = $1 AND channel = $2 AND address_key = $3"
ADDRESSES_OF = ("SELECT channel, address_key, normalized, given FROM address"
                " WHERE contact_id = $1 ORDER BY id")
ADDRESSES_OF_ON = ("SELECT channel, address_key, normalized, given FROM address"
                   " WHERE contact_id = $1 AND channel = $2 ORDER BY id")
EXISTS = "SELECT 1 FROM contact WHERE id = $1"
# The contact and its addresses in one statement (the writes of a person's choice read them in
# their transaction): no row for an unknown contact, one row of NULLs for one without any.
WITH_ADDRESSES = ("SELECT a.channel, a.address_key FROM contact c"
                  " LEFT JOIN address a ON a.contact_id = c.id WHERE c.id = $1 ORDER BY a.id")
WITH_ADDRESSES_ON = ("SELECT a.channel, a.address_key FROM contact c"
                     " LEFT JOIN address a ON a.contact_id = c.id AND a.channel = $2"
                     " WHERE c.id = $1 ORDER BY a.id")
ID_BY_REF = "SELECT id FROM contact WHERE external_ref = $1"
OTHER_BY_REF = "SELECT id FROM contact WHERE external_ref = $1 AND id <> $2"
SET_REF = "UPDATE contact SET external_ref = $2 WHERE id = $1"
SET_REF_IF_NONE = "UPDATE contact SET external_ref = $2 WHERE id = $1 AND external_ref IS NULL"
TOUCH = "UPDATE contact SET updated_at = $2 WHERE id = $1"

# A contact with its addresses, one row per address (none: one row of NULLs).
CONTACT_SQL = (
    "SELECT c.id, c.external_ref, c.restricted, c.created_at, c.updated_at, a.channel,"
    " a.normalized, a.given, a.created_at AS address_created_at"
    " FROM contact c LEFT JOIN address a ON a.contact_id = c.id"
)
GET = f"{CONTACT_SQL} WHERE c.id = $1 ORDER BY a.id"


def find_sql(by_ref: bool, by_address: bool) -> str:
    """The contacts with external_ref $1 (when `by_ref`) and/or holding the address (channel,
    key) in the next two parameters (when `by_address`); at least one of the two."""
    where, n = [], 0
    if by_ref:
        n += 1
        where.append(f"c.external_ref = ${n}")
    if by_address:
        n += 2
        where.append(f"c.id IN (SELECT contact_id FROM address WHERE channel = ${n - 1}"
                     f" AND address_key = ${n})")
    return f"{CONTACT_SQL} WHERE {' AND '.join(where)} ORDER BY a.id"


# -- keyed look-ups of many (the API's upserts and the import's batches) -----------------------
# SQLite: the key list, then CROSS JOIN the table (service.db.keys). PostgreSQL: the key list,
# then a LATERAL subquery with LIMIT 1 (the index is unique, so the limit changes nothing),
# which the planner cannot flatten into a hash join: a plain join of `unnest` with 1,000 keys
# was planned as a seq scan of the table when its statistics were stale, as they are while an
# import adds rows faster than autovacuum analyses them (50,000 addresses: Hash Join over Seq
# Scan on address, 60 ms per batch; it grows with the table).
def holders_sql(engine: str) -> str:
    """(channel, address_key, contact_id, external_ref) of the contacts holding these
    addresses: `rows_arg(engine, [(channel, key), ...], 2)`."""
    keys = rows_from(engine, 1, ("channel", "address_key"))
    if engine == "postgres":
        return ("SELECT h.channel, h.address_key, h.contact_id, h.external_ref"
                f" FROM {keys} CROSS JOIN LATERAL"
                " (SELECT a.channel, a.address_key, a.contact_id, c.external_ref"
                " FROM address a JOIN contact c ON c.id = a.contact_id"
                " WHERE a.channel = k.channel AND a.address_key = k.address_key LIMIT 1) AS h")
    return ("SELECT a.channel, a.address_key, a.contact_id, c.external_ref"
            f" FROM {keys} CROSS JOIN address a CROSS JOIN contact c"
            " WHERE a.channel = k.channel AND a.address_key = k.address_key"
            " AND c.id = a.contact_id")


def contacts_by_ref_sql(engine: str) -> str:
    """(external_ref, id) of the contacts with these external refs: `keys_arg(engine, refs)`."""
    if engine == "postgres":
        return (f"SELECT m.external_ref, m.id FROM {keys_from(engine, 1)} CROSS JOIN LATERAL"
                " (SELECT c.external_ref, c.id FROM contact c WHERE c.external_ref = k.key"
                " LIMIT 1) AS m")
    return (f"SELECT c.external_ref, c.id FROM {keys_from(engine, 1)} CROSS JOIN contact c"
            " WHERE c.external_ref = k.key")


# -- the import's batch writes (import_writes.write_batch) -------------------------------------
CONTACT_COLUMNS = ("id", "external_ref", "restricted", "created_at", "updated_at")
INSERT_CONTACT = (f"INSERT INTO contact ({', '.join(CONTACT_COLUMNS)})"
                  " VALUES ($1, $2, $3, $4, $5)")
IMPORT_SET_REF = ("UPDATE contact SET external_ref = $2, updated_at = $3"
                  " WHERE id = $1 AND external_ref IS NULL")


# -- the CSV export (importer.export_contacts), a page of addresses after id $1 -------------
EXPORT_PAGE = """
SELECT a.id, c.id AS contact_id, c.external_ref, a.channel, a.normalized, p.topic, p.status,
       p.paused_until, p.updated_at
  FROM address a JOIN contact c ON c.id = a.contact_id
  LEFT JOIN preference p ON p.contact_id = a.contact_id AND p.channel = a.channel
 WHERE a.id IN (SELECT id FROM address WHERE id > $1 AND ($3 = '' OR channel = $3)
                 ORDER BY id LIMIT $2)
 ORDER BY a.id, p.topic
"""
