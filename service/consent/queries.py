"""The consent capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

An address's state, the query every check reads, is in state_queries.py. Every statement is a
tenant's (`Scoped`: `$1` is the tenant id, service/db/scoped.py) but the two high-water marks
MANY_LAST_SEQ and LAST_EVENT_ID, which are the table's (tests/test_tenant_scoping.py says why).
"""

from __future__ import annotations

from service.db.keys import keys_from, rows_from
from service.db.scoped import Scoped

# -- writing consent (ledger.py) ----------------------------------------------------------------
# Append to the change feed; returns the new sequence number (record_change).
INSERT_CHANGE = Scoped(
    "INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic, contact_id,"
    " value, source, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " RETURNING seq"
)
# Append one ledger event, sealed in its chain (chain.py); returns its id (record_event).
INSERT_EVENT = Scoped(
    "INSERT INTO consent_event (tenant_id, contact_id, address_key, channel, topic, action,"
    " source, occurred_at, ip, user_agent, wording_version, campaign, message_ref, api_key_id,"
    " detail, ip_digest, user_agent_digest, detail_digest, prev_hash, hash) VALUES ($1, $2, $3,"
    " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    " RETURNING id"
)
# The current preference of (contact, channel, topic), read before set_preference writes.
PREFERENCE = Scoped(
    "SELECT status, paused_until FROM preference"
    " WHERE tenant_id = $1 AND contact_id = $2 AND channel = $3 AND topic = $4"
)
# The latest objection to direct marketing of contact $2 (consent/objection.py).
LATEST_OBJECTION = Scoped(
    "SELECT id FROM consent_event WHERE tenant_id = $1 AND contact_id = $2"
    " AND action = 'objected' ORDER BY id DESC LIMIT 1"
)
UPSERT_PREFERENCE = Scoped(
    "INSERT INTO preference (tenant_id, contact_id, channel, topic, status, paused_until,"
    " updated_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (tenant_id, contact_id, channel, topic) DO UPDATE SET status = excluded.status,"
    " paused_until = excluded.paused_until, updated_at = excluded.updated_at,"
    " seq = excluded.seq"
)

# -- a person's pace (pace.py) -----------------------------------------------------------------
# The pace of (contact, channel, topic), read before pace.set_pace writes; a row that does not
# exist yet is created with status `none` (as a pause-only row is).
PACE = Scoped("SELECT status, frequency, max_per_week FROM preference"
              " WHERE tenant_id = $1 AND contact_id = $2 AND channel = $3 AND topic = $4")
UPSERT_PACE = Scoped(
    "INSERT INTO preference (tenant_id, contact_id, channel, topic, status, frequency,"
    " max_per_week, updated_at, seq) VALUES ($1, $2, $3, $4, 'none', $5, $6, $7, $8)"
    " ON CONFLICT (tenant_id, contact_id, channel, topic) DO UPDATE SET"
    " frequency = excluded.frequency,"
    " max_per_week = excluded.max_per_week, updated_at = excluded.updated_at,"
    " seq = excluded.seq"
)

# -- the preferences API and the ledger view (logic.py) -----------------------------------------
PREFERENCES_OF = Scoped(
    "SELECT channel, topic, status, paused_until, updated_at, frequency, max_per_week"
    " FROM preference"
    " WHERE tenant_id = $1 AND contact_id = $2 ORDER BY channel, topic"
)
# One page of contact $2's ledger, newest first: $3 the page size (one more than shown, to know
# whether another page follows), $4 the id the page starts below (EVENTS_BEFORE).
EVENTS = Scoped(
    "SELECT id, channel, topic, action, source, occurred_at, ip, user_agent,"
    " wording_version, campaign, message_ref, api_key_id, detail FROM consent_event"
    " WHERE tenant_id = $1 AND contact_id = $2"
)
EVENTS_FIRST = Scoped(EVENTS + " ORDER BY id DESC LIMIT $3")
EVENTS_BEFORE = Scoped(EVENTS + " AND id < $4 ORDER BY id DESC LIMIT $3")


# -- bulk writes (many.py) ---------------------------------------------------------------------
# The bulk form of a person's choice (many.apply_choices): preferences with their ledger events
# and feed rows, for imports. Keyed look-ups are built by service.db.keys and probe the index of
# the table looked up (tests/contacts/test_import_plans.py checks their plans).
MANY_PREFERENCE_KEY = ("contact_id", "channel", "topic")
MANY_ADDRESS_KEY = ("contact_id", "channel")


def many_held_sql(engine: str) -> Scoped:
    """The preferences held for (contact_id, channel, topic) keys: `rows_arg(engine, keys, 3)`.
    SQLite: the keys, then CROSS JOIN (service.db.keys). PostgreSQL: a LATERAL subquery with
    LIMIT 1 (the index is unique), never flattened into a hash join over a seq scan, which a
    plain join of many keys got when the table's statistics were stale."""
    keys = rows_from(engine, 2, MANY_PREFERENCE_KEY)
    columns = "p.contact_id, p.channel, p.topic, p.status, p.paused_until, p.updated_at"
    match = ("p.tenant_id = $1 AND p.contact_id = k.contact_id AND p.channel = k.channel"
             " AND p.topic = k.topic")
    if engine == "postgres":
        return Scoped(f"SELECT h.* FROM {keys} CROSS JOIN LATERAL (SELECT {columns}"
                      f" FROM preference p WHERE {match} LIMIT 1) AS h")
    return Scoped(f"SELECT {columns} FROM {keys} CROSS JOIN preference p WHERE {match}")


def many_addresses_sql(engine: str) -> Scoped:
    """(contact_id, channel, address_key) of the addresses held for (contact_id, channel) keys:
    `rows_arg(engine, keys, 2)`. PostgreSQL: a LATERAL subquery kept apart by `OFFSET 0` (a
    subquery that may return many rows would otherwise be pulled up into a plain join, which
    stale statistics can turn into a scan of the table), so each key probes the
    (contact_id, channel) index."""
    keys = rows_from(engine, 2, MANY_ADDRESS_KEY)
    match = "a.tenant_id = $1 AND a.contact_id = k.contact_id AND a.channel = k.channel"
    if engine == "postgres":
        return Scoped(f"SELECT h.* FROM {keys} CROSS JOIN LATERAL (SELECT a.contact_id,"
                      f" a.channel, a.address_key FROM address a WHERE {match} OFFSET 0) AS h")
    return Scoped(f"SELECT a.contact_id, a.channel, a.address_key FROM {keys}"
                  f" CROSS JOIN address a WHERE {match}")


MANY_EVENT_COLUMNS = ("contact_id", "address_key", "channel", "topic", "action", "source",
                      "occurred_at", "ip", "user_agent", "wording_version", "campaign",
                      "message_ref", "api_key_id", "detail", "ip_digest", "user_agent_digest",
                      "detail_digest", "prev_hash", "hash")
# An event's values (MANY_EVENT_COLUMNS) after the tenant id.
MANY_INSERT_EVENT = Scoped(INSERT_EVENT.removesuffix(" RETURNING id"))
MANY_INSERT_FEED = Scoped(
    "INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic, contact_id,"
    " value, source, occurred_at) VALUES ($1, 'preference', 'updated', $2, $3, $4, $5, $6, $7,"
    " $8)"
)
# The preference upsert is UPSERT_PREFERENCE (ledger.py's, above).
# SQLite: the feed's high-water mark; the writer holds the only write lock, so the rows it
# inserts next get MAX(seq) + 1, + 2, ... in insert order (seq is the rowid). The table's mark,
# every tenant's rows: the rowid is.
MANY_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM change_feed"

# PostgreSQL: the changes are COPYed into a temporary table, then one statement writes the
# events and feed rows in the changes' order (serial values follow the ORDER BY) and each
# preference once, with its last change (`final`) and that change's feed row (the highest seq),
# all of them the tenant's in $1 (the temporary table holds one transaction's batch only).
MANY_TEMP_TABLE = "consent_many_change"
MANY_TEMP_COLUMNS = ("ord", *MANY_EVENT_COLUMNS, "value", "status", "paused_until", "final")
MANY_TEMP_DEFINITION = (
    "ord integer, contact_id text, address_key text, channel text, topic text, action text,"
    " source text, occurred_at timestamptz, ip text, user_agent text, wording_version text,"
    " campaign text, message_ref text, api_key_id integer, detail text, ip_digest text,"
    " user_agent_digest text, detail_digest text, prev_hash text, hash text, value text,"
    " status text, paused_until timestamptz, final boolean"
)
PG_MANY_APPLY = Scoped(f"""
WITH event AS (
  INSERT INTO consent_event (tenant_id, {', '.join(MANY_EVENT_COLUMNS)})
  SELECT CAST($1 AS integer), contact_id, address_key, channel, topic, action, source,
         occurred_at, ip, user_agent, wording_version, campaign, message_ref, api_key_id,
         CAST(detail AS json), ip_digest, user_agent_digest, detail_digest, prev_hash, hash
    FROM {MANY_TEMP_TABLE} ORDER BY ord
), feed AS (
  INSERT INTO change_feed (tenant_id, kind, op, channel, address_key, topic, contact_id, value,
                           source, occurred_at)
  SELECT CAST($1 AS integer), 'preference', 'updated', channel, address_key, topic, contact_id,
         value, source, occurred_at
    FROM {MANY_TEMP_TABLE} ORDER BY ord
  RETURNING seq, contact_id, channel, topic
), last AS (
  SELECT contact_id, channel, topic, MAX(seq) AS seq FROM feed GROUP BY contact_id, channel, topic
)
INSERT INTO preference (tenant_id, contact_id, channel, topic, status, paused_until,
                        updated_at, seq)
SELECT CAST($1 AS integer), t.contact_id, t.channel, t.topic, t.status, t.paused_until,
       t.occurred_at, last.seq
  FROM last JOIN {MANY_TEMP_TABLE} t ON t.final AND t.contact_id = last.contact_id
   AND t.channel = last.channel AND t.topic = last.topic
ON CONFLICT (tenant_id, contact_id, channel, topic) DO UPDATE SET status = excluded.status,
  paused_until = excluded.paused_until, updated_at = excluded.updated_at, seq = excluded.seq
""")


# -- the hash chain (ledger.py, chain.py, verify.py) --------------------------------------------
# A chain is a contact's events in id order. A head is read by (tenant_id, contact_id, id), the
# index consent_event_tenant_contact_seq. Whole-ledger reads go through a tenant's chains in the
# order of their contact ids as bytes, the same on both engines whatever the database's
# collation (a checkpoint's digest depends on it): PostgreSQL compares `COLLATE "C"`, served by
# the index consent_event_tenant_chain (tenant_id, contact_id COLLATE "C", id); SQLite's BINARY
# collation is that order already, served by consent_event_tenant_contact_seq.
CHAIN_EVENT_COLUMNS = ("id", *MANY_EVENT_COLUMNS)
# The hash of contact $2's last event (its chain's head); read under the feed lock.
CHAIN_HEAD = Scoped("SELECT hash FROM consent_event WHERE tenant_id = $1 AND contact_id = $2"
                    " ORDER BY id DESC LIMIT 1")


def chain_heads_sql(engine: str) -> Scoped:
    """(contact id, head hash or NULL) for each contact id in $2 (`keys_arg`): one probe each."""
    return Scoped("SELECT k.key, (SELECT e.hash FROM consent_event e WHERE e.tenant_id = $1"
                  " AND e.contact_id = k.key ORDER BY e.id DESC LIMIT 1)"
                  f" FROM {keys_from(engine, 2)}")


def _bytewise(engine: str) -> str:
    return 'contact_id COLLATE "C"' if engine == "postgres" else "contact_id"


def chain_page_sql(engine: str, columns: tuple[str, ...], limit: int,
                   upto: bool = False) -> Scoped:
    """The next `limit` events of every chain of the tenant after (contact id $2, id $3), in
    chain order; with `upto`, only those with id <= $4."""
    where = " AND id <= $4" if upto else ""
    return Scoped(f"SELECT {', '.join(columns)} FROM consent_event"
                  f" WHERE tenant_id = $1 AND ({_bytewise(engine)}, id) > ($2, $3){where}"
                  f" ORDER BY {_bytewise(engine)}, id LIMIT {int(limit)}")


def one_chain_sql(limit: int) -> Scoped:
    """The next `limit` events of contact $2's chain after id $3."""
    return Scoped(f"SELECT {', '.join(CHAIN_EVENT_COLUMNS)} FROM consent_event"
                  f" WHERE tenant_id = $1 AND contact_id = $2 AND id > $3 ORDER BY id"
                  f" LIMIT {int(limit)}")


# Checkpoints: the last event id, read under the tenant's feed lock, so every lower id of the
# tenant's is committed. The table's high-water mark, not the tenant's: ids come from one
# sequence, so the tenant's later events get higher ids all the same, and MAX(id) is one probe
# of the primary key where the tenant's own has no index to read it from.
LAST_EVENT_ID = "SELECT COALESCE(MAX(id), 0) FROM consent_event"
INSERT_CHECKPOINT = Scoped(
    "INSERT INTO ledger_checkpoint (tenant_id, created_at, last_event_id, chains, events,"
    " digest) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
)
LATEST_CHECKPOINT = Scoped("SELECT id, created_at, last_event_id, chains, events, digest"
                           " FROM ledger_checkpoint WHERE tenant_id = $1 ORDER BY id DESC"
                           " LIMIT 1")
