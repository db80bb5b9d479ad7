"""The contacts capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by store.py (one contact by address, in the caller's transaction), logic.py (the API's
upsert, read, change) and import_writes.py (the import's set-based batches). Every statement is
a tenant's (`Scoped`: `$1` is the tenant id, service/db/scoped.py).
"""

from __future__ import annotations

from service.db.keys import keys_from, rows_from
from service.db.scoped import Scoped

# -- one contact and its addresses -------------------------------------------------------------
BY_ADDRESS = Scoped("SELECT contact_id FROM address"
                    " WHERE tenant_id = $1 AND channel = $2 AND address_key = $3")
CREATE = Scoped("INSERT INTO contact (tenant_id, id, external_ref, restricted, created_at,"
                " updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
# An address's values, after its tenant id (the import COPYs ("tenant_id", *ADDRESS_COLUMNS)).
ADDRESS_COLUMNS = ("contact_id", "channel", "address_key", "normalized", "given", "created_at")
ADD_ADDRESS = Scoped(f"INSERT INTO address (tenant_id, {', '.join(ADDRESS_COLUMNS)})"
                     " VALUES ($1, $2, $3, $4, $5, $6, $7)")
REMOVE_ADDRESS = Scoped("DELETE FROM address WHERE tenant_id = $1 AND contact_id = $2"
                        " AND channel = $3 AND address_key = $4")
ADDRESSES_OF = Scoped("SELECT channel, address_key, normalized, given FROM address"
                      " WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id")
ADDRESSES_OF_ON = Scoped("SELECT channel, address_key, normalized, given FROM address"
                         " WHERE tenant_id = $1 AND contact_id = $2 AND channel = $3"
                         " ORDER BY id")
EXISTS = Scoped("SELECT 1 FROM contact WHERE tenant_id = $1 AND id = $2")
# The contact and its addresses in one statement (the writes of a person's choice read them in
# their transaction): no row for an unknown contact, one row of NULLs for one without any.
WITH_ADDRESSES = Scoped("SELECT a.channel, a.address_key FROM contact c"
                        " LEFT JOIN address a ON a.contact_id = c.id AND a.tenant_id = c.tenant_id"
                        " WHERE c.tenant_id = $1 AND c.id = $2 ORDER BY a.id")
WITH_ADDRESSES_ON = Scoped("SELECT a.channel, a.address_key FROM contact c"
                           " LEFT JOIN address a ON a.contact_id = c.id"
                           " AND a.tenant_id = c.tenant_id AND a.channel = $3"
                           " WHERE c.tenant_id = $1 AND c.id = $2 ORDER BY a.id")
ID_BY_REF = Scoped("SELECT id FROM contact WHERE tenant_id = $1 AND external_ref = $2")
OTHER_BY_REF = Scoped("SELECT id FROM contact"
                      " WHERE tenant_id = $1 AND external_ref = $2 AND id <> $3")
SET_REF = Scoped("UPDATE contact SET external_ref = $3 WHERE tenant_id = $1 AND id = $2")
SET_REF_IF_NONE = Scoped("UPDATE contact SET external_ref = $3"
                         " WHERE tenant_id = $1 AND id = $2 AND external_ref IS NULL")
TOUCH = Scoped("UPDATE contact SET updated_at = $3 WHERE tenant_id = $1 AND id = $2")

# The tenant's contacts with their addresses, one row per address (none: one row of NULLs);
# GET and find_sql add their conditions.
CONTACT_SQL = Scoped(
    "SELECT c.id, c.external_ref, c.restricted, c.created_at, c.updated_at, a.channel,"
    " a.normalized, a.given, a.created_at AS address_created_at"
    " FROM contact c LEFT JOIN address a ON a.contact_id = c.id AND a.tenant_id = c.tenant_id"
    " WHERE c.tenant_id = $1"
)
GET = Scoped(f"{CONTACT_SQL} AND c.id = $2 ORDER BY a.id")


def find_sql(by_ref: bool, by_address: bool) -> Scoped:
    """The contacts with external_ref $2 (when `by_ref`) and/or holding the address (channel,
    key) in the next two parameters (when `by_address`); at least one of the two."""
    where, n = [], 1
    if by_ref:
        n += 1
        where.append(f"c.external_ref = ${n}")
    if by_address:
        n += 2
        where.append(f"c.id IN (SELECT contact_id FROM address WHERE tenant_id = $1"
                     f" AND channel = ${n - 1} AND address_key = ${n})")
    return Scoped(f"{CONTACT_SQL} AND {' AND '.join(where)} ORDER BY a.id")


# -- keyed look-ups of many (the API's upserts and the import's batches) -----------------------
# SQLite: the key list, then CROSS JOIN the table (service.db.keys). PostgreSQL: the key list,
# then a LATERAL subquery with LIMIT 1 (the index is unique, so the limit changes nothing),
# which the planner cannot flatten into a hash join: a plain join of `unnest` with 1,000 keys
# was planned as a seq scan of the table when its statistics were stale, as they are while an
# import adds rows faster than autovacuum analyses them (50,000 addresses: Hash Join over Seq
# Scan on address, 60 ms per batch; it grows with the table).
def holders_sql(engine: str) -> Scoped:
    """(channel, address_key, contact_id, external_ref) of the contacts holding these
    addresses: `rows_arg(engine, [(channel, key), ...], 2)`."""
    keys = rows_from(engine, 2, ("channel", "address_key"))
    if engine == "postgres":
        return Scoped("SELECT h.channel, h.address_key, h.contact_id, h.external_ref"
                      f" FROM {keys} CROSS JOIN LATERAL"
                      " (SELECT a.channel, a.address_key, a.contact_id, c.external_ref"
                      " FROM address a JOIN contact c ON c.id = a.contact_id"
                      " AND c.tenant_id = a.tenant_id WHERE a.tenant_id = $1"
                      " AND a.channel = k.channel AND a.address_key = k.address_key LIMIT 1)"
                      " AS h")
    return Scoped("SELECT a.channel, a.address_key, a.contact_id, c.external_ref"
                  f" FROM {keys} CROSS JOIN address a CROSS JOIN contact c"
                  " WHERE a.tenant_id = $1 AND a.channel = k.channel"
                  " AND a.address_key = k.address_key AND c.id = a.contact_id"
                  " AND c.tenant_id = a.tenant_id")


def contacts_by_ref_sql(engine: str) -> Scoped:
    """(external_ref, id) of the contacts with these external refs: `keys_arg(engine, refs)`."""
    if engine == "postgres":
        return Scoped(f"SELECT m.external_ref, m.id FROM {keys_from(engine, 2)}"
                      " CROSS JOIN LATERAL (SELECT c.external_ref, c.id FROM contact c"
                      " WHERE c.tenant_id = $1 AND c.external_ref = k.key LIMIT 1) AS m")
    return Scoped(f"SELECT c.external_ref, c.id FROM {keys_from(engine, 2)}"
                  " CROSS JOIN contact c WHERE c.tenant_id = $1 AND c.external_ref = k.key")


# -- the import's batch writes (import_writes.write_batch) -------------------------------------
# A contact's values, after its tenant id (the import COPYs ("tenant_id", *CONTACT_COLUMNS)).
CONTACT_COLUMNS = ("id", "external_ref", "restricted", "created_at", "updated_at")
INSERT_CONTACT = Scoped(f"INSERT INTO contact (tenant_id, {', '.join(CONTACT_COLUMNS)})"
                        " VALUES ($1, $2, $3, $4, $5, $6)")
IMPORT_SET_REF = Scoped("UPDATE contact SET external_ref = $3, updated_at = $4"
                        " WHERE tenant_id = $1 AND id = $2 AND external_ref IS NULL")


# -- the CSV export (importer.export_contacts), a page of addresses after id $2 -------------
EXPORT_PAGE = Scoped("""
SELECT a.id, c.id AS contact_id, c.external_ref, a.channel, a.normalized, p.topic, p.status,
       p.paused_until, p.updated_at
  FROM address a JOIN contact c ON c.id = a.contact_id AND c.tenant_id = a.tenant_id
  LEFT JOIN preference p ON p.contact_id = a.contact_id AND p.channel = a.channel
   AND p.tenant_id = a.tenant_id
 WHERE a.tenant_id = $1
   AND a.id IN (SELECT id FROM address WHERE tenant_id = $1 AND id > $2
                 AND ($4 = '' OR channel = $4) ORDER BY id LIMIT $3)
 ORDER BY a.id, p.topic
""")
