"""The suppression capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

The checks read the address-state query of service/consent/state_queries.py; the statements here
write suppressions (store.py), page through the list and its change feed (feed.py), answer the
API (logic.py) and ping the database before a streamed check answers (stream.py). and write
the CSV export (exporter.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from service.db.keys import keys_from, probe

# -- one suppression (store.add_suppression / remove_suppression) -----------------------------
EXISTS = ("SELECT 1 FROM suppression WHERE channel = $1 AND address_key = $2 AND topic = $3"
          " AND reason = $4")
INSERT = ("INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
          " contact_id, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
FIND = ("SELECT id, contact_id FROM suppression WHERE channel = $1 AND address_key = $2"
        " AND topic = $3 AND reason = $4")
DELETE = "DELETE FROM suppression WHERE id = $1"
# The change feed's high-water mark (feed.start_cursor; the SQLite batch in add_suppressions).
LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM change_feed"
# The suppressions still in force on an address after one was lifted (logic.remove_one).
OF_ADDRESS = ("SELECT topic, reason FROM suppression WHERE channel = $1 AND address_key = $2"
              " ORDER BY id")


# -- many at once (API, imports, ESP webhooks: store.add_suppressions) ------------------------
# Keyed joins built by service.db.keys (SQLite: `CROSS JOIN` after the key list, so the
# table's index is probed per key); tests/db/test_query_plans.py checks their plans.
def existing_sql(engine: str) -> str:
    """The keys ($4) already suppressed on channel $1, topic $2, for reason $3."""
    return (f"SELECT s.address_key FROM {keys_from(engine, 4)} {probe(engine)} suppression s"
            " ON s.channel = $1 AND s.address_key = k.key AND s.topic = $2 AND s.reason = $3")


def contacts_sql(engine: str) -> str:
    """address key -> contact id for the keys ($2) a contact holds on channel $1."""
    return (f"SELECT a.address_key, a.contact_id FROM {keys_from(engine, 2)}"
            f" {probe(engine)} address a ON a.channel = $1 AND a.address_key = k.key")


# PostgreSQL: the batch's keys are COPYed into a temporary table (one per pooled connection,
# emptied at commit), then one statement adds what is new: the suppressions (the unique index
# decides what is new, as the ON CONFLICT arbiter, whatever the planner thinks) and the feed
# rows carrying their `seq`; it returns the keys added with their contact. The ledger events of
# the keys a contact holds are sealed in Python (their hash chain) and COPYed after it. A key
# already suppressed uses up a sequence number: the feed has gaps, never reordering (readers go
# by cursor). Nothing is left to the planner's estimates, which lag far behind the tables'
# sizes during an import: a join to `address` or a NOT EXISTS on `suppression` was planned as
# a read of a whole channel per batch (measured; tests/db/test_query_plans.py keeps it out),
# while a correlated look-up can only probe the unique index.
PG_KEYS_TABLE = "bulk_keys"
PG_ADD_MANY = """
WITH added AS (
  INSERT INTO suppression (channel, address_key, topic, reason, source, list_name, contact_id,
                           created_at, seq)
  SELECT $1, k.key, $2, $3, $4, $6,
         (SELECT a.contact_id FROM address a
           WHERE a.channel = CAST($1 AS varchar) AND a.address_key = k.key),
         $5, nextval('change_feed_seq_seq')
    FROM bulk_keys k
  ON CONFLICT (channel, address_key, topic, reason) DO NOTHING
  RETURNING address_key, contact_id, seq
), feed AS (
  INSERT INTO change_feed (seq, kind, op, channel, address_key, topic, contact_id, value, source,
                           occurred_at)
  SELECT seq, 'suppression', 'added', $1, address_key, $2, contact_id, $3, $4, $5 FROM added
)
SELECT address_key, contact_id FROM added ORDER BY seq
"""
SQLITE_INSERT_FEED = (
    "INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,"
    " occurred_at) VALUES ('suppression', 'added', $1, $2, $3, $4, $5, $6, $7)"
)
# We hold SQLite's only write lock, so the feed rows after `before` ($1) are this batch's.
SQLITE_INSERT_FROM_FEED = (
    "INSERT INTO suppression (channel, address_key, topic, reason, source, list_name,"
    " contact_id, created_at, seq) SELECT channel, address_key, topic, value, source, $2,"
    " contact_id, occurred_at, seq FROM change_feed WHERE seq > $1 ORDER BY seq"
)

# -- the listing and its change feed (feed.py) -------------------------------------------------
FEED_BEFORE = "SELECT seq FROM change_feed WHERE occurred_at < $1 ORDER BY seq DESC LIMIT 1"


def _equal(alias: str, columns: Sequence[str], first: int) -> str:
    return "".join(f" AND {alias}{column} = ${first + i}" for i, column in enumerate(columns))


def snapshot_sql(columns: Sequence[str], limit: int) -> str:
    """Suppressions in force with $1 < seq <= $2, and each of `columns` equal to $3, $4…"""
    return ("SELECT seq, channel, address_key, topic, reason, source, list_name, created_at"
            f" FROM suppression WHERE seq > $1 AND seq <= $2{_equal('', columns, 3)}"
            f" ORDER BY seq LIMIT {limit}")


def changes_sql(columns: Sequence[str], limit: int) -> str:
    """Suppression changes with seq > $1, and each of `columns` (of the feed) equal to $2…"""
    return ("SELECT f.seq, f.op, f.channel, f.address_key, f.topic, f.value, f.source,"
            " s.list_name, f.occurred_at FROM change_feed f LEFT JOIN suppression s"
            " ON s.seq = f.seq WHERE f.kind = 'suppression' AND f.seq > $1"
            f"{_equal('f.', columns, 2)} ORDER BY f.seq LIMIT {limit}")


# -- the CSV export (exporter.py), page by page on the id ---------------------------------------
def _export_filters(channel: str | None, reason: str | None, args: list) -> str:
    sql = ""
    for column, value in (("channel", channel), ("reason", reason)):
        if value:
            args.append(value)
            sql += f" AND s.{column} = ${len(args)}"
    return sql


def export_count_sql(channel: str | None, reason: str | None, args: list) -> str:
    """How many rows the export will write; appends the filter values to `args`."""
    return "SELECT COUNT(*) FROM suppression s WHERE 1 = 1" + _export_filters(channel, reason,
                                                                              args)


def export_page_sql(channel: str | None, reason: str | None, args: list, page: int) -> str:
    """One page after id $1 (the first of `args`); appends the filter values to `args`."""
    return ("SELECT s.id, s.channel, a.normalized, s.address_key, s.topic, s.reason, s.source,"
            " s.list_name, s.created_at FROM suppression s"
            " LEFT JOIN address a ON a.channel = s.channel AND a.address_key = s.address_key"
            f" WHERE s.id > $1{_export_filters(channel, reason, args)} ORDER BY s.id"
            f" LIMIT {int(page)}")


# -- the streamed check (stream.py) ------------------------------------------------------------
PING = "SELECT 1"  # the database answers: the 200 status line may go out


# -- lifting many at once (store.remove_suppressions: an import's opt-ins) ---------------------
# Each key probes the unique index (channel, address_key, topic, reason) on its own: most keys
# of an import are new addresses with nothing to lift, so the probe is all most batches pay.
def lift_sql(engine: str) -> str:
    """The suppressions of keys ($4) on channel $1, topic $2, for reason $3: (id, address_key,
    contact_id). SQLite only; PostgreSQL lifts them in the same statement (PG_LIFT_MANY)."""
    return (f"SELECT s.id, s.address_key, s.contact_id FROM {keys_from(engine, 4)}"
            f" {probe(engine)} suppression s ON s.channel = $1 AND s.address_key = k.key"
            " AND s.topic = $2 AND s.reason = $3 ORDER BY s.id")


SQLITE_DELETE_MANY = "DELETE FROM suppression WHERE id IN (SELECT value FROM json_each($1))"
SQLITE_LIFT_FEED = (
    "INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,"
    " occurred_at) VALUES ('suppression', 'removed', $1, $2, $3, $4, $5, $6, $7)"
)
# PostgreSQL, one statement: the keys' suppressions found by (channel, address key) alone, in a
# LATERAL subquery that `OFFSET 0` keeps apart (no condition on topic or reason is pushed into
# it), so each key can only probe the unique index: naming the reason there let a planner
# without statistics (a new database's first import) take the (reason, channel) index and read
# a whole channel per key, 5 s a batch. Then the rows deleted by id, and their feed rows.
PG_LIFT_MANY = """
WITH gone AS (
  DELETE FROM suppression WHERE id = ANY(ARRAY(
    SELECT h.id FROM unnest(CAST($4 AS text[])) AS k(key) CROSS JOIN LATERAL
      (SELECT s.id, s.topic, s.reason FROM suppression s
        WHERE s.channel = CAST($1 AS varchar) AND s.address_key = k.key OFFSET 0) AS h
     WHERE h.topic = CAST($2 AS varchar) AND h.reason = CAST($3 AS varchar)))
  RETURNING id, address_key, contact_id
), feed AS (
  INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,
                           occurred_at)
  SELECT 'suppression', 'removed', $1, address_key, $2, contact_id, $3, $5, $6
    FROM gone ORDER BY id
)
SELECT address_key FROM gone ORDER BY id
"""


# -- national lists as dated snapshots (lists.py) ----------------------------------------------
# The lists' dates and sizes, for the checks' in-process cache and GET /v1/external-lists.
LISTS_ALL = "SELECT name, channel, as_of, size FROM external_list ORDER BY name"
UPSERT_LIST = (
    "INSERT INTO external_list (name, channel, as_of, size, imported_at)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET channel = excluded.channel,"
    " as_of = excluded.as_of, size = excluded.size, imported_at = excluded.imported_at"
)


def stage_keys_sql(engine: str) -> str:
    """Note the keys ($2) of a snapshot import of list $1 (repeats ignored)."""
    return ("INSERT INTO external_list_key (list_name, address_key)"
            f" SELECT $1, k.key FROM {keys_from(engine, 2)} WHERE true"  # SQLite: not a JOIN's ON
            " ON CONFLICT (list_name, address_key) DO NOTHING")


STAGED_COUNT = "SELECT COUNT(*) FROM external_list_key WHERE list_name = $1"
def unstage_sql(engine: str) -> str:
    """Forget a slice of list $1's noted keys (after id $2, in id order: a walk of the primary
    key that never passes the rows already deleted), so no transaction holds the write lock
    for long. PostgreSQL: `= ANY(ARRAY(…))`, since `IN (…)` was planned as a hash join over
    the whole table."""
    page = ("SELECT id FROM external_list_key WHERE id > $2 AND list_name = $1"
            " ORDER BY id LIMIT $3")
    ids = f"= ANY(ARRAY({page}))" if engine == "postgres" else f"IN ({page})"
    return f"DELETE FROM external_list_key WHERE id {ids} RETURNING id"
# The next page (after id $3) of list $2's suppressions on channel $1 whose number is not in
# the snapshot: `suppression_list_name (list_name, id)` walks the list alone, in id order, and
# each row probes `external_list_key_list_key`; no other reason or list is ever read. A scalar
# subquery rather than NOT EXISTS: PostgreSQL may turn NOT EXISTS into an anti-join that reads
# the whole snapshot (millions of keys) for every page; a scalar subquery stays a probe.
GONE_PAGE = (
    "SELECT s.id, s.address_key, s.topic FROM suppression s"
    " WHERE s.list_name = $2 AND s.id > $3 AND s.channel = $1 AND s.reason = 'external_list'"
    " AND (SELECT k.id FROM external_list_key k"
    " WHERE k.list_name = $2 AND k.address_key = s.address_key) IS NULL"
    " ORDER BY s.id LIMIT $4"
)
