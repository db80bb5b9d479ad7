"""The suppression capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

The checks read the address-state query of service/consent/state_queries.py; the statements here
write suppressions (store.py), page through the list and its change feed (feed.py), answer the
API (logic.py) and ping the database before a streamed check answers (stream.py). and write
the CSV export (exporter.py).

Every statement on a tenant's rows is `Scoped` (issue 18): `$1` is the tenant, filtered on
every table reference (the first column of the index each probe uses), and the caller's
parameters start at `$2`; the tenant's database view puts the id in front of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.db.keys import keys_from, probe
from service.db.scoped import Scoped

# -- one suppression (store.add_suppression / remove_suppression) -----------------------------
EXISTS = Scoped("SELECT 1 FROM suppression WHERE tenant_id = $1 AND channel = $2"
                " AND address_key = $3 AND topic = $4 AND reason = $5")
INSERT = Scoped("INSERT INTO suppression (tenant_id, channel, address_key, topic, reason,"
                " source, list_name, contact_id, created_at, seq)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
FIND = Scoped("SELECT id, contact_id FROM suppression WHERE tenant_id = $1 AND channel = $2"
              " AND address_key = $3 AND topic = $4 AND reason = $5")
DELETE = Scoped("DELETE FROM suppression WHERE tenant_id = $1 AND id = $2")
# The tenant's change-feed high-water mark: the last sequence number its rows drew (the
# sequence is global, the feed read per tenant; feed.start_cursor, outgoing webhooks, the
# SQLite batch in add_suppressions). The newest entry of `change_feed_tenant_seq`.
LAST_SEQ = Scoped("SELECT COALESCE(MAX(seq), 0) FROM change_feed WHERE tenant_id = $1")
# The suppressions still in force on an address after one was lifted (logic.remove_one).
OF_ADDRESS = Scoped("SELECT topic, reason FROM suppression WHERE tenant_id = $1 AND channel = $2"
                    " AND address_key = $3 ORDER BY id")

# -- hard bounces shared with other tenants (SHARE_HARD_BOUNCES, decision D10) -----------------
# `shared_bounce` is global: a row is one tenant's claim that the address hard-bounced, and the
# state query of every *other* tenant reads it (consent/state_queries.py). These write and
# withdraw the acting tenant's own row ($1); one row per (channel, key, tenant), the first time.
SHARE_BOUNCE = Scoped("INSERT INTO shared_bounce (tenant_id, channel, address_key, created_at)"
                      " VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (channel, address_key, tenant_id) DO NOTHING")
WITHDRAW_BOUNCE = Scoped("DELETE FROM shared_bounce WHERE channel = $2 AND address_key = $3"
                         " AND tenant_id = $1")


# -- many at once (API, imports, ESP webhooks: store.add_suppressions) ------------------------
# Keyed joins built by service.db.keys (SQLite: `CROSS JOIN` after the key list, so the
# table's index is probed per key); tests/db/test_query_plans.py checks their plans.
def existing_sql(engine: str) -> Scoped:
    """The keys ($5) already suppressed on channel $2, topic $3, for reason $4."""
    return Scoped(
        f"SELECT s.address_key FROM {keys_from(engine, 5)} {probe(engine)} suppression s"
        " ON s.tenant_id = $1 AND s.channel = $2 AND s.address_key = k.key AND s.topic = $3"
        " AND s.reason = $4")


def contacts_sql(engine: str) -> Scoped:
    """address key -> contact id for the keys ($3) a contact holds on channel $2."""
    return Scoped(f"SELECT a.address_key, a.contact_id FROM {keys_from(engine, 3)}"
                  f" {probe(engine)} address a ON a.tenant_id = $1 AND a.channel = $2"
                  " AND a.address_key = k.key")


# PostgreSQL: the batch's keys are COPYed into a temporary table (one per pooled connection,
# emptied at commit), then one statement adds what is new: the suppressions (the unique index
# decides what is new, as the ON CONFLICT arbiter, whatever the planner thinks) and the feed
# rows carrying their `seq`; it returns the keys added with their contact. The ledger events of
# the keys a contact holds are sealed in Python (their hash chain) and COPYed after it. A key
# already suppressed uses up a sequence number: the feed has gaps, never reordering (readers go
# by cursor). Nothing is left to the planner's estimates, which lag far behind the tables'
# sizes during an import: a join to `address` or a NOT EXISTS on `suppression` was planned as
# a read of a whole channel per batch (measured; tests/db/test_query_plans.py keeps it out),
# while a correlated look-up probes the unique index. Every index of `address` leads with the
# tenant now, and until tenant_id has statistics (a new database's first import) the planner
# takes `tenant_id = $1` for a selective condition: the (tenant, contact, channel) index then
# looked as cheap as the unique one for a look-up of the channel alone, and read the tenant's
# every address per key. The look-up asks for a contact that is there (`IS NOT NULL`, the same
# answer: NULL either way), one more condition on that index's entries, so the unique index
# stays the cheaper one.
PG_KEYS_TABLE = "bulk_keys"
PG_ADD_MANY = Scoped("""
WITH added AS (
  INSERT INTO suppression (tenant_id, channel, address_key, topic, reason, source, list_name,
                           contact_id, created_at, seq)
  SELECT $1, $2, k.key, $3, $4, $5, $7,
         (SELECT a.contact_id FROM address a
           WHERE a.tenant_id = $1 AND a.channel = CAST($2 AS varchar) AND a.address_key = k.key
             AND a.contact_id IS NOT NULL),
         $6, nextval('change_feed_seq_seq')
    FROM bulk_keys k
  ON CONFLICT (tenant_id, channel, address_key, topic, reason) DO NOTHING
  RETURNING address_key, contact_id, seq
), feed AS (
  INSERT INTO change_feed (tenant_id, seq, kind, op, channel, address_key, topic, contact_id,
                           value, source, occurred_at)
  SELECT $1, seq, 'suppression', 'added', $2, address_key, $3, contact_id, $4, $5, $6 FROM added
)
SELECT address_key, contact_id FROM added ORDER BY seq
""")
SQLITE_INSERT_FEED = Scoped(
    "INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic, contact_id,"
    " value, source, occurred_at) VALUES ($1, 'suppression', 'added', $2, $3, $4, $5, $6, $7,"
    " $8)"
)
# We hold SQLite's only write lock, so the tenant's feed rows after `before` ($2) are this
# batch's.
SQLITE_INSERT_FROM_FEED = Scoped(
    "INSERT INTO suppression (tenant_id, channel, address_key, topic, reason, source, list_name,"
    " contact_id, created_at, seq) SELECT tenant_id, channel, address_key, topic, value, source,"
    " $3, contact_id, occurred_at, seq FROM change_feed WHERE tenant_id = $1 AND seq > $2"
    " ORDER BY seq"
)

# -- the listing and its change feed (feed.py) -------------------------------------------------
FEED_BEFORE = Scoped("SELECT seq FROM change_feed WHERE tenant_id = $1 AND occurred_at < $2"
                     " ORDER BY seq DESC LIMIT 1")


def _in_row(engine: str, column: str) -> str:
    """A column compared in the row found, never searched through an index that leads with it:
    SQLite picks an index by its equalities alone (it has no statistics), so `tenant_id = ?`
    would take a tenant-leading index and sort the tenant's every row for one page; a unary `+`
    keeps that column out of its index choice. PostgreSQL weighs its statistics (and has no
    `+` for text)."""
    return f"+{column}" if engine == "sqlite" else column


def _equal(alias: str, columns: Sequence[str], first: int) -> str:
    return "".join(f" AND {alias}{column} = ${first + i}" for i, column in enumerate(columns))


def snapshot_sql(columns: Sequence[str], limit: int) -> Scoped:
    """Suppressions in force with $2 < seq <= $3, and each of `columns` equal to $4, $5…"""
    return Scoped(
        "SELECT seq, channel, address_key, topic, reason, source, list_name, created_at"
        " FROM suppression WHERE tenant_id = $1 AND seq > $2 AND seq <= $3"
        f"{_equal('', columns, 4)} ORDER BY seq LIMIT {limit}")


def changes_sql(columns: Sequence[str], limit: int) -> Scoped:
    """Suppression changes with seq > $2, and each of `columns` (of the feed) equal to $3…
    The list name is a probe per entry of the page (by `suppression_tenant_seq`): as a join,
    PostgreSQL could sort the tenant's whole suppression table by seq for every page."""
    return Scoped(
        "SELECT f.seq, f.op, f.channel, f.address_key, f.topic, f.value, f.source,"
        " (SELECT s.list_name FROM suppression s WHERE s.tenant_id = $1 AND s.seq = f.seq"
        " LIMIT 1), f.occurred_at FROM change_feed f WHERE f.tenant_id = $1"
        f" AND f.kind = 'suppression' AND f.seq > $2{_equal('f.', columns, 3)}"
        f" ORDER BY f.seq LIMIT {limit}")


# -- the CSV export (exporter.py), page by page on the id ---------------------------------------
def _export_filters(channel: str | None, reason: str | None, args: list,
                    engine: str | None = None) -> str:
    """The filters, compared in the row on `engine` (`_in_row`) when given."""
    sql = ""
    for column, value in (("channel", channel), ("reason", reason)):
        if value:
            args.append(value)
            column = _in_row(engine, f"s.{column}") if engine else f"s.{column}"
            sql += f" AND {column} = ${len(args) + 1}"  # $1 is the tenant, in front of `args`
    return sql


def export_count_sql(channel: str | None, reason: str | None, args: list) -> Scoped:
    """How many rows the export will write; appends the filter values to `args`."""
    return Scoped("SELECT COUNT(*) FROM suppression s WHERE s.tenant_id = $1"
                  + _export_filters(channel, reason, args))


def export_page_sql(engine: str, channel: str | None, reason: str | None, args: list,
                    page: int) -> Scoped:
    """One page after id $2 (the first of `args`); appends the filter values to `args`. A walk
    of the primary key from $2 (on SQLite the tenant and filters compared in the rows:
    `_in_row`)."""
    return Scoped(
        "SELECT s.id, s.channel, a.normalized, s.address_key, s.topic, s.reason, s.source,"
        " s.list_name, s.created_at FROM suppression s"
        " LEFT JOIN address a ON a.tenant_id = s.tenant_id AND a.channel = s.channel"
        " AND a.address_key = s.address_key"
        f" WHERE {_in_row(engine, 's.tenant_id')} = $1 AND s.id > $2"
        f"{_export_filters(channel, reason, args, engine)} ORDER BY s.id LIMIT {int(page)}")


# -- the streamed check (stream.py) ------------------------------------------------------------
PING = "SELECT 1"  # the database answers: the 200 status line may go out


# -- lifting many at once (store.remove_suppressions: an import's opt-ins) ---------------------
# Each key probes the unique index (channel, address_key, topic, reason) on its own: most keys
# of an import are new addresses with nothing to lift, so the probe is all most batches pay.
def lift_sql(engine: str) -> Scoped:
    """The suppressions of keys ($5) on channel $2, topic $3, for reason $4: (id, address_key,
    contact_id). SQLite only; PostgreSQL lifts them in the same statement (PG_LIFT_MANY)."""
    return Scoped(f"SELECT s.id, s.address_key, s.contact_id FROM {keys_from(engine, 5)}"
                  f" {probe(engine)} suppression s ON s.tenant_id = $1 AND s.channel = $2"
                  " AND s.address_key = k.key AND s.topic = $3 AND s.reason = $4 ORDER BY s.id")


# by id; the tenant compared in each row found (`+`: _in_row)
SQLITE_DELETE_MANY = Scoped("DELETE FROM suppression WHERE +tenant_id = $1"
                            " AND id IN (SELECT value FROM json_each($2))")
SQLITE_LIFT_FEED = Scoped(
    "INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic, contact_id,"
    " value, source, occurred_at) VALUES ($1, 'suppression', 'removed', $2, $3, $4, $5, $6, $7,"
    " $8)"
)
# PostgreSQL, one statement: the keys' suppressions found by (tenant, channel, address key)
# alone, in a LATERAL subquery that `OFFSET 0` keeps apart (no condition on topic or reason is
# pushed into it), so each key probes the unique index: naming the reason there let a planner
# without statistics (a new database's first import) take the (reason, channel) index and read
# a whole channel per key, 5 s a batch. Every index leads with the tenant now, and without
# statistics `tenant_id = $1` looks selective: the subquery's ORDER BY (topic, reason), the
# order the unique index gives for free, keeps the planner off the narrower (tenant, reason,
# channel) index, which would read the tenant's every suppression per key. Then the rows
# deleted by id (the tenant compared in the row, `+`, not searched), and their feed rows.
PG_LIFT_MANY = Scoped("""
WITH gone AS (
  DELETE FROM suppression WHERE +tenant_id = $1 AND id = ANY(ARRAY(
    SELECT h.id FROM unnest(CAST($5 AS text[])) AS k(key) CROSS JOIN LATERAL
      (SELECT s.id, s.topic, s.reason FROM suppression s
        WHERE s.tenant_id = $1 AND s.channel = CAST($2 AS varchar) AND s.address_key = k.key
        ORDER BY s.topic, s.reason OFFSET 0) AS h
     WHERE h.topic = CAST($3 AS varchar) AND h.reason = CAST($4 AS varchar)))
  RETURNING id, address_key, contact_id
), feed AS (
  INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic, contact_id, value,
                           source, occurred_at)
  SELECT $1, 'suppression', 'removed', $2, address_key, $3, contact_id, $4, $6, $7
    FROM gone ORDER BY id
)
SELECT address_key FROM gone ORDER BY id
""")


# -- national lists as dated snapshots (lists.py) ----------------------------------------------
# The lists' dates and sizes, for the checks' in-process cache and GET /v1/external-lists.
LISTS_ALL = Scoped("SELECT name, channel, as_of, size FROM external_list WHERE tenant_id = $1"
                   " ORDER BY name")
UPSERT_LIST = Scoped(
    "INSERT INTO external_list (tenant_id, name, channel, as_of, size, imported_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, name) DO UPDATE"
    " SET channel = excluded.channel, as_of = excluded.as_of, size = excluded.size,"
    " imported_at = excluded.imported_at"
)


def stage_keys_sql(engine: str) -> Scoped:
    """Note the keys ($3) of a snapshot import of list $2 (repeats ignored)."""
    return Scoped("INSERT INTO external_list_key (tenant_id, list_name, address_key)"
                  f" SELECT $1, $2, k.key FROM {keys_from(engine, 3)}"
                  " WHERE true"  # SQLite: not a JOIN's ON
                  " ON CONFLICT (tenant_id, list_name, address_key) DO NOTHING")


STAGED_COUNT = Scoped("SELECT COUNT(*) FROM external_list_key WHERE tenant_id = $1"
                      " AND list_name = $2")
def unstage_sql(engine: str) -> Scoped:
    """Forget a slice of list $2's noted keys (after id $3, in id order: a walk of the primary
    key that never passes the rows already deleted), so no transaction holds the write lock
    for long. PostgreSQL: `= ANY(ARRAY(…))`, since `IN (…)` was planned as a hash join over
    the whole table."""
    page = ("SELECT id FROM external_list_key WHERE tenant_id = $1 AND id > $3"
            " AND list_name = $2 ORDER BY id LIMIT $4")
    ids = f"= ANY(ARRAY({page}))" if engine == "postgres" else f"IN ({page})"
    return Scoped(f"DELETE FROM external_list_key WHERE {_in_row(engine, 'tenant_id')} = $1"
                  f" AND id {ids} RETURNING id")
def gone_page_sql(engine: str) -> Scoped:
    """The next page (after id $4) of list $3's suppressions on channel $2 whose number is not
    in the snapshot: `suppression_tenant_list_name (tenant_id, list_name, id)` walks the list
    alone, in id order (on SQLite the channel and reason are compared in the row: `_in_row`,
    or the (tenant, reason, channel) index would read every list of the channel), and each row
    probes `external_list_key_tenant_list_key`; no other list is ever read. A scalar subquery
    rather than NOT EXISTS: PostgreSQL may turn NOT EXISTS into an anti-join that reads the
    whole snapshot (millions of keys) for every page; a scalar subquery stays a probe."""
    return Scoped(
        "SELECT s.id, s.address_key, s.topic FROM suppression s"
        f" WHERE s.tenant_id = $1 AND s.list_name = $3 AND s.id > $4"
        f" AND {_in_row(engine, 's.channel')} = $2"
        f" AND {_in_row(engine, 's.reason')} = 'external_list'"
        " AND (SELECT k.id FROM external_list_key k"
        " WHERE k.tenant_id = $1 AND k.list_name = $3 AND k.address_key = s.address_key) IS NULL"
        " ORDER BY s.id LIMIT $5")
