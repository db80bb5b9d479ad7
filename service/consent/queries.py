"""The consent capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

An address's state: the one query every check reads. What the send decision looks at for one
(channel, address key) is three kinds of rows, each a `StatePart` written once below:
its suppressions (`s`), the preferences of the contact holding the address (`p`), and whether
that contact is restricted (`r`). Every row is (kind, topic, value, until, pace, deciding); the
last two only on a preference row that carries a frequency or a cap (rule 7). The single check
(`STATE_SQL`) asks for one key; the bulk and streamed checks (`state_keyed_sql`) ask for a list
of keys at once, with the key in front of each row, as joins driven by the sorted keys
(neighbouring probes share index pages):
- SQLite: the keys as a JSON array through `json_each`; `CROSS JOIN` fixes the join order, so a
  large address table is probed per key, never scanned. The rows come back as one JSON text:
  the query thread then needs the GIL once, not once per row, each time waiting for the loop's
  own work (a convoy that tripled the query's time).
- PostgreSQL: a join on the keys rather than `= ANY($2)`, which the planner may turn into a
  scan that searches the array linearly for every row when the table's statistics are thin; the
  keys go as one comma-separated text (hex keys hold no commas), ~15% cheaper than encoding a
  text[]; no DISTINCT (the keys are unique already, and hashing them would undo the sort).
The statements are composed once, at import; tests/db/test_query_plans.py checks their plans
and tests/db/test_state_query.py that every form answers the same rows.
"""

from __future__ import annotations

from typing import NamedTuple

from service.db.keys import keys_from, probe, rows_from
from service.db.tables import WHOLE_CHANNEL


class StatePart(NamedTuple):
    """One kind of state row: its columns, the table found by (channel $1, address key), the
    joins after that table, and a filter on the joined rows."""

    columns: str
    table: str
    joins: str = ""
    where: str = ""


# The person's pace (issue 17), on their preference rows: the frequency of a topic, or the
# weekly cap on the whole-channel row ...
PACE = "COALESCE(p.frequency, CAST(p.max_per_week AS TEXT))"
# ... and the one send that decides it: for the cap, the cap-th most recent send on the
# channel (the cap is reached while that send is less than 7 days old); for a frequency, the
# last send of its topic. CASE evaluates a subquery only for a row that carries a pace, so the
# sends of everybody else are never read, and the answer is one row per choice however many
# sends mailers record (tests/db/test_query_plans.py).
# The sends of the address are found through `send_log_key_prefix` (the first 16 hex digits of
# the key: a narrow index, so that recording sends writes few pages; migration
# 2026-12-08T01:00), then compared by channel and whole key in the row, so another address
# sharing the prefix is never counted: each send to the address (kept 31 days) is a row read.
SENDS_OF_ADDRESS = ("l.channel = $1 AND substr(l.address_key, 1, 16) ="
                    " substr(a.address_key, 1, 16) AND l.address_key = a.address_key")
DECIDING_SEND = (
    f"CASE WHEN p.max_per_week IS NOT NULL AND p.topic = '{WHOLE_CHANNEL}' THEN"
    " (SELECT recent_sends.sent_at"
    " FROM (SELECT l.sent_at, row_number() OVER (ORDER BY l.sent_at DESC) AS n FROM send_log l"
    f" WHERE {SENDS_OF_ADDRESS}) recent_sends"
    " WHERE recent_sends.n = p.max_per_week)"
    " WHEN p.frequency IS NOT NULL THEN (SELECT MAX(l.sent_at) FROM send_log l"
    f" WHERE {SENDS_OF_ADDRESS} AND l.topic = p.topic) END"
)

STATE_PARTS = (
    StatePart("'s' AS kind, s.topic AS topic, s.reason AS value, NULL AS until, NULL AS pace,"
              " NULL AS deciding", "suppression s"),
    # The pace rides on the preference rows this part reads anyway: a part of its own cost
    # every key another probe of `address` (a quarter more query time on SQLite, measured).
    StatePart(f"'p', p.topic, p.status, p.paused_until, {PACE}, {DECIDING_SEND}", "address a",
              "JOIN preference p ON p.contact_id = a.contact_id AND p.channel = $1"),
    StatePart("'r', '', '', NULL, NULL, NULL", "address a",
              "JOIN contact c ON c.id = a.contact_id", "c.restricted"),
)


def _single(part: StatePart) -> str:
    alias = part.table.split()[1]
    where = f" AND {part.where}" if part.where else ""
    return (f"SELECT {part.columns} FROM {part.table} {part.joins}"
            f" WHERE {alias}.channel = $1 AND {alias}.address_key = $2{where}")


def _keyed(part: StatePart, engine: str, keys: str, key: str) -> str:
    alias = part.table.split()[1]
    where = f" WHERE {part.where}" if part.where else ""
    return (f"SELECT {alias}.address_key AS key, {part.columns} FROM {keys}"
            f" {probe(engine)} {part.table} ON {alias}.channel = $1"
            f" AND {alias}.address_key = {key} {part.joins}{where}")


# The state of one address key ($2) on channel $1: rows of (kind, topic, value, until, pace,
# deciding).
STATE_SQL = "\nUNION ALL\n".join(_single(part) for part in STATE_PARTS)


def state_keyed_sql(engine: str) -> str:
    """The state of many address keys ($2) on channel $1: rows of (key, kind, topic, value,
    until, pace, deciding). SQLite: $2 a JSON array, and one row holding the JSON array of
    those rows; PostgreSQL: $2 the keys joined by commas."""
    if engine == "sqlite":
        union = "\nUNION ALL\n".join(_keyed(part, engine, "json_each($2) k", "k.value")
                                     for part in STATE_PARTS)
        return ("SELECT json_group_array(json_array(key, kind, topic, value, until, pace,"
                " deciding))"
                f" FROM (\n{union})")
    union = "\nUNION ALL\n".join(_keyed(part, engine, "k", "k.key") for part in STATE_PARTS)
    return f"WITH k(key) AS (SELECT unnest(string_to_array($2, ',')))\n{union}"


SQLITE_STATE_KEYED_SQL = state_keyed_sql("sqlite")
PG_STATE_KEYED_SQL = state_keyed_sql("postgres")


# -- writing consent (ledger.py) ----------------------------------------------------------------
# Append to the change feed; returns the new sequence number (record_change).
INSERT_CHANGE = (
    "INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value,"
    " source, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq"
)
# Append one ledger event, sealed in its chain (chain.py); returns its id (record_event).
INSERT_EVENT = (
    "INSERT INTO consent_event (contact_id, address_key, channel, topic, action, source,"
    " occurred_at, ip, user_agent, wording_version, campaign, message_ref, api_key_id, detail,"
    " ip_digest, user_agent_digest, detail_digest, prev_hash, hash) VALUES ($1, $2, $3, $4, $5,"
    " $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id"
)
# The current preference of (contact, channel, topic), read before set_preference writes.
PREFERENCE = (
    "SELECT status, paused_until FROM preference"
    " WHERE contact_id = $1 AND channel = $2 AND topic = $3"
)
# The latest objection to direct marketing of contact $1 (consent/objection.py).
LATEST_OBJECTION = (
    "SELECT id FROM consent_event WHERE contact_id = $1 AND action = 'objected'"
    " ORDER BY id DESC LIMIT 1"
)
UPSERT_PREFERENCE = (
    "INSERT INTO preference (contact_id, channel, topic, status, paused_until, updated_at, seq)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (contact_id, channel, topic) DO UPDATE SET status = excluded.status,"
    " paused_until = excluded.paused_until, updated_at = excluded.updated_at,"
    " seq = excluded.seq"
)

# -- a person's pace (pace.py) -----------------------------------------------------------------
# The pace of (contact, channel, topic), read before pace.set_pace writes; a row that does not
# exist yet is created with status `none` (as a pause-only row is).
PACE = ("SELECT status, frequency, max_per_week FROM preference"
        " WHERE contact_id = $1 AND channel = $2 AND topic = $3")
UPSERT_PACE = (
    "INSERT INTO preference (contact_id, channel, topic, status, frequency, max_per_week,"
    " updated_at, seq) VALUES ($1, $2, $3, 'none', $4, $5, $6, $7)"
    " ON CONFLICT (contact_id, channel, topic) DO UPDATE SET frequency = excluded.frequency,"
    " max_per_week = excluded.max_per_week, updated_at = excluded.updated_at,"
    " seq = excluded.seq"
)

# -- the preferences API and the ledger view (logic.py) -----------------------------------------
PREFERENCES_OF = (
    "SELECT channel, topic, status, paused_until, updated_at, frequency, max_per_week"
    " FROM preference"
    " WHERE contact_id = $1 ORDER BY channel, topic"
)
# One page of a contact's ledger, newest first: $2 the page size (one more than shown, to know
# whether another page follows), $3 the id the page starts below (EVENTS_BEFORE).
EVENTS = (
    "SELECT id, channel, topic, action, source, occurred_at, ip, user_agent,"
    " wording_version, campaign, message_ref, api_key_id, detail FROM consent_event"
    " WHERE contact_id = $1"
)
EVENTS_FIRST = EVENTS + " ORDER BY id DESC LIMIT $2"
EVENTS_BEFORE = EVENTS + " AND id < $3 ORDER BY id DESC LIMIT $2"


# -- bulk writes (many.py) ---------------------------------------------------------------------
# The bulk form of a person's choice (many.apply_choices): preferences with their ledger events
# and feed rows, for imports. Keyed look-ups are built by service.db.keys and probe the index of
# the table looked up (tests/contacts/test_import_plans.py checks their plans).
MANY_PREFERENCE_KEY = ("contact_id", "channel", "topic")
MANY_ADDRESS_KEY = ("contact_id", "channel")


def many_held_sql(engine: str) -> str:
    """The preferences held for (contact_id, channel, topic) keys: `rows_arg(engine, keys, 3)`.
    SQLite: the keys, then CROSS JOIN (service.db.keys). PostgreSQL: a LATERAL subquery with
    LIMIT 1 (the index is unique), never flattened into a hash join over a seq scan, which a
    plain join of many keys got when the table's statistics were stale."""
    keys = rows_from(engine, 1, MANY_PREFERENCE_KEY)
    columns = "p.contact_id, p.channel, p.topic, p.status, p.paused_until, p.updated_at"
    match = "p.contact_id = k.contact_id AND p.channel = k.channel AND p.topic = k.topic"
    if engine == "postgres":
        return (f"SELECT h.* FROM {keys} CROSS JOIN LATERAL (SELECT {columns}"
                f" FROM preference p WHERE {match} LIMIT 1) AS h")
    return f"SELECT {columns} FROM {keys} CROSS JOIN preference p WHERE {match}"


def many_addresses_sql(engine: str) -> str:
    """(contact_id, channel, address_key) of the addresses held for (contact_id, channel) keys:
    `rows_arg(engine, keys, 2)`. PostgreSQL: a LATERAL subquery kept apart by `OFFSET 0` (a
    subquery that may return many rows would otherwise be pulled up into a plain join, which
    stale statistics can turn into a scan of the table), so each key probes the
    (contact_id, channel) index."""
    keys = rows_from(engine, 1, MANY_ADDRESS_KEY)
    match = "a.contact_id = k.contact_id AND a.channel = k.channel"
    if engine == "postgres":
        return (f"SELECT h.* FROM {keys} CROSS JOIN LATERAL (SELECT a.contact_id, a.channel,"
                f" a.address_key FROM address a WHERE {match} OFFSET 0) AS h")
    return (f"SELECT a.contact_id, a.channel, a.address_key FROM {keys}"
            f" CROSS JOIN address a WHERE {match}")


MANY_EVENT_COLUMNS = ("contact_id", "address_key", "channel", "topic", "action", "source",
                      "occurred_at", "ip", "user_agent", "wording_version", "campaign",
                      "message_ref", "api_key_id", "detail", "ip_digest", "user_agent_digest",
                      "detail_digest", "prev_hash", "hash")
MANY_INSERT_EVENT = INSERT_EVENT.removesuffix(" RETURNING id")
MANY_INSERT_FEED = (
    "INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,"
    " occurred_at) VALUES ('preference', 'updated', $1, $2, $3, $4, $5, $6, $7)"
)
# The preference upsert is UPSERT_PREFERENCE (ledger.py's, above).
# SQLite: the feed's high-water mark; the writer holds the only write lock, so the rows it
# inserts next get MAX(seq) + 1, + 2, ... in insert order (seq is the rowid).
MANY_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM change_feed"

# PostgreSQL: the changes are COPYed into a temporary table, then one statement writes the
# events and feed rows in the changes' order (serial values follow the ORDER BY) and each
# preference once, with its last change (`final`) and that change's feed row (the highest seq).
MANY_TEMP_TABLE = "consent_many_change"
MANY_TEMP_COLUMNS = ("ord", *MANY_EVENT_COLUMNS, "value", "status", "paused_until", "final")
MANY_TEMP_DEFINITION = (
    "ord integer, contact_id text, address_key text, channel text, topic text, action text,"
    " source text, occurred_at timestamptz, ip text, user_agent text, wording_version text,"
    " campaign text, message_ref text, api_key_id integer, detail text, ip_digest text,"
    " user_agent_digest text, detail_digest text, prev_hash text, hash text, value text,"
    " status text, paused_until timestamptz, final boolean"
)
PG_MANY_APPLY = f"""
WITH event AS (
  INSERT INTO consent_event ({', '.join(MANY_EVENT_COLUMNS)})
  SELECT contact_id, address_key, channel, topic, action, source, occurred_at, ip, user_agent,
         wording_version, campaign, message_ref, api_key_id, CAST(detail AS json), ip_digest,
         user_agent_digest, detail_digest, prev_hash, hash
    FROM {MANY_TEMP_TABLE} ORDER BY ord
), feed AS (
  INSERT INTO change_feed (kind, op, channel, address_key, topic, contact_id, value, source,
                           occurred_at)
  SELECT 'preference', 'updated', channel, address_key, topic, contact_id, value, source,
         occurred_at
    FROM {MANY_TEMP_TABLE} ORDER BY ord
  RETURNING seq, contact_id, channel, topic
), last AS (
  SELECT contact_id, channel, topic, MAX(seq) AS seq FROM feed GROUP BY contact_id, channel, topic
)
INSERT INTO preference (contact_id, channel, topic, status, paused_until, updated_at, seq)
SELECT t.contact_id, t.channel, t.topic, t.status, t.paused_until, t.occurred_at, last.seq
  FROM last JOIN {MANY_TEMP_TABLE} t ON t.final AND t.contact_id = last.contact_id
   AND t.channel = last.channel AND t.topic = last.topic
ON CONFLICT (contact_id, channel, topic) DO UPDATE SET status = excluded.status,
  paused_until = excluded.paused_until, updated_at = excluded.updated_at, seq = excluded.seq
"""


# -- the hash chain (ledger.py, chain.py, verify.py) --------------------------------------------
# A chain is a contact's events in id order. A head is read by (contact_id, id), the index
# consent_event_contact_seq. Whole-ledger reads go through the chains in the order of their
# contact ids as bytes, the same on both engines whatever the database's collation (a
# checkpoint's digest depends on it): PostgreSQL compares `COLLATE "C"`, served by the index
# consent_event_chain (contact_id COLLATE "C", id); SQLite's BINARY collation is that order
# already, served by consent_event_contact_seq.
CHAIN_EVENT_COLUMNS = ("id", *MANY_EVENT_COLUMNS)
# The hash of contact $1's last event (its chain's head); read under the feed lock.
CHAIN_HEAD = "SELECT hash FROM consent_event WHERE contact_id = $1 ORDER BY id DESC LIMIT 1"


def chain_heads_sql(engine: str) -> str:
    """(contact id, head hash or NULL) for each contact id in $1 (`keys_arg`): one probe each."""
    return ("SELECT k.key, (SELECT e.hash FROM consent_event e WHERE e.contact_id = k.key"
            f" ORDER BY e.id DESC LIMIT 1) FROM {keys_from(engine, 1)}")


def _bytewise(engine: str) -> str:
    return 'contact_id COLLATE "C"' if engine == "postgres" else "contact_id"


def chain_page_sql(engine: str, columns: tuple[str, ...], limit: int,
                   upto: bool = False) -> str:
    """The next `limit` events of every chain after (contact id $1, id $2), in chain order;
    with `upto`, only those with id <= $3."""
    where = " AND id <= $3" if upto else ""
    return (f"SELECT {', '.join(columns)} FROM consent_event"
            f" WHERE ({_bytewise(engine)}, id) > ($1, $2){where}"
            f" ORDER BY {_bytewise(engine)}, id LIMIT {int(limit)}")


def one_chain_sql(limit: int) -> str:
    """The next `limit` events of contact $1's chain after id $2."""
    return (f"SELECT {', '.join(CHAIN_EVENT_COLUMNS)} FROM consent_event"
            f" WHERE contact_id = $1 AND id > $2 ORDER BY id LIMIT {int(limit)}")


# Checkpoints: the last event id (read under the feed lock, so every lower id is committed).
LAST_EVENT_ID = "SELECT COALESCE(MAX(id), 0) FROM consent_event"
INSERT_CHECKPOINT = (
    "INSERT INTO ledger_checkpoint (created_at, last_event_id, chains, events, digest)"
    " VALUES ($1, $2, $3, $4, $5) RETURNING id"
)
LATEST_CHECKPOINT = ("SELECT id, created_at, last_event_id, chains, events, digest"
                     " FROM ledger_checkpoint ORDER BY id DESC LIMIT 1")
