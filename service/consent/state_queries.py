"""An address's state: the one query every check reads (the consent capability's SQL; the
rest is in queries.py). What the send decision looks at for one
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
- PostgreSQL: a join on the keys rather than `= ANY($3)`, which the planner may turn into a
  scan that searches the array linearly for every row when the table's statistics are thin; the
  keys go as one comma-separated text (hex keys hold no commas), ~15% cheaper than encoding a
  text[]; no DISTINCT (the keys are unique already, and hashing them would undo the sort).
Every probe names the tenant (`tenant_id = $1`, issue 18: `Scoped`), the first column of each
index it probes, so one tenant's check reads only that tenant's rows at the same cost; the
channel is $2. The statements are composed once, at import; tests/db/test_query_plans.py checks
their plans and tests/db/test_state_query.py that every form answers the same rows.

Hard-bounce sharing (decision D10, the operator's SHARE_HARD_BOUNCES): the `SHARING` forms add
one more part, an `'s'` row `undeliverable` on the whole channel when another tenant recorded a
hard bounce of the key in the global `shared_bounce` table; nothing of that tenant (who, when,
which source) reaches the answer. The process picks its forms once, at start-up
(`STATE.share_hard_bounces`, called by `build_runtime`); with sharing off they are the statements
above, byte for byte, so the hot path pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from service.db.keys import probe
from service.db.scoped import Scoped
from service.db.tables import WHOLE_CHANNEL


class StatePart(NamedTuple):
    """One kind of state row: its columns, the table found by (tenant $1, channel $2, address
    key), the joins after that table, and a filter on the joined rows."""

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
# The sends of the address are found through `send_log_tenant_key_prefix` (the tenant, then the
# first 16 hex digits of the key: a narrow index, so that recording sends writes few pages;
# migrations 2026-12-08T01:00 and T1), then compared by channel and whole key in the row, so
# another address sharing the prefix is never counted: each send to the address (kept 31 days)
# is a row read.
SENDS_OF_ADDRESS = ("l.tenant_id = $1 AND l.channel = $2 AND substr(l.address_key, 1, 16) ="
                    " substr(a.address_key, 1, 16) AND l.address_key = a.address_key")
# A fragment of the preference part, but it reads send_log itself: `Scoped`, its $1 the tenant.
DECIDING_SEND = Scoped(
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
              "JOIN preference p ON p.tenant_id = $1 AND p.contact_id = a.contact_id"
              " AND p.channel = $2"),
    # contact by its primary key; the tenant compared in the row found
    StatePart("'r', '', '', NULL, NULL, NULL", "address a",
              "JOIN contact c ON c.id = a.contact_id AND c.tenant_id = a.tenant_id",
              "c.restricted"),
)


def _single(part: StatePart) -> str:
    alias = part.table.split()[1]
    where = f" AND {part.where}" if part.where else ""
    return (f"SELECT {part.columns} FROM {part.table} {part.joins}"
            f" WHERE {alias}.tenant_id = $1 AND {alias}.channel = $2"
            f" AND {alias}.address_key = $3{where}")


def _keyed(part: StatePart, engine: str, keys: str, key: str) -> str:
    alias = part.table.split()[1]
    where = f" WHERE {part.where}" if part.where else ""
    return (f"SELECT {alias}.address_key AS key, {part.columns} FROM {keys}"
            f" {probe(engine)} {part.table} ON {alias}.tenant_id = $1 AND {alias}.channel = $2"
            f" AND {alias}.address_key = {key} {part.joins}{where}")


# The state of one address key ($3) on channel $2 of tenant $1: rows of (kind, topic, value,
# until, pace, deciding).
STATE_SQL = Scoped("\nUNION ALL\n".join(_single(part) for part in STATE_PARTS))


def state_keyed_sql(engine: str) -> Scoped:
    """The state of many address keys ($3) on channel $2 of tenant $1: rows of (key, kind,
    topic, value, until, pace, deciding). SQLite: $3 a JSON array, and one row holding the JSON
    array of those rows; PostgreSQL: $3 the keys joined by commas."""
    if engine == "sqlite":
        union = "\nUNION ALL\n".join(_keyed(part, engine, "json_each($3) k", "k.value")
                                     for part in STATE_PARTS)
        return Scoped("SELECT json_group_array(json_array(key, kind, topic, value, until, pace,"
                      " deciding))"
                      f" FROM (\n{union})")
    union = "\nUNION ALL\n".join(_keyed(part, engine, "k", "k.key") for part in STATE_PARTS)
    return Scoped(f"WITH k(key) AS (SELECT unnest(string_to_array($3, ',')))\n{union}")


SQLITE_STATE_KEYED_SQL = state_keyed_sql("sqlite")
PG_STATE_KEYED_SQL = state_keyed_sql("postgres")


# -- hard-bounce sharing (D10) ---------------------------------------------------------------
# Whether any *other* tenant ($1 excluded: a tenant sees its own bounce as its `hard_bounce`
# suppression) shared a hard bounce of the key: at most one row per key, however many did,
# probed through `shared_bounce_key` (channel, address_key, tenant_id).
OTHERS_BOUNCED = ("EXISTS (SELECT 1 FROM shared_bounce b WHERE b.channel = $2"
                   " AND b.address_key = {key} AND b.tenant_id <> $1)")
UNDELIVERABLE_ROW = f"'s', '{WHOLE_CHANNEL}', 'undeliverable', NULL, NULL, NULL"
SHARED_STATE_SQL = Scoped(f"{STATE_SQL}\nUNION ALL\nSELECT {UNDELIVERABLE_ROW}"
                          f" WHERE {OTHERS_BOUNCED.format(key='$3')}")


def shared_state_keyed_sql(engine: str) -> Scoped:
    """`state_keyed_sql` with the shared-bounce part: the keys other tenants saw hard-bounce."""
    if engine == "sqlite":
        union = "\nUNION ALL\n".join(
            [_keyed(part, engine, "json_each($3) k", "k.value") for part in STATE_PARTS]
            + [f"SELECT k.value AS key, {UNDELIVERABLE_ROW} FROM json_each($3) k"
               f" WHERE {OTHERS_BOUNCED.format(key='k.value')}"])
        return Scoped("SELECT json_group_array(json_array(key, kind, topic, value, until, pace,"
                      " deciding))"
                      f" FROM (\n{union})")
    union = "\nUNION ALL\n".join(
        [_keyed(part, engine, "k", "k.key") for part in STATE_PARTS]
        + [f"SELECT k.key, {UNDELIVERABLE_ROW} FROM k WHERE {OTHERS_BOUNCED.format(key='k.key')}"])
    return Scoped(f"WITH k(key) AS (SELECT unnest(string_to_array($3, ',')))\n{union}")


SHARED_SQLITE_STATE_KEYED_SQL = shared_state_keyed_sql("sqlite")
SHARED_PG_STATE_KEYED_SQL = shared_state_keyed_sql("postgres")


@dataclass(slots=True)
class StateStatements:
    """The address-state statements this process runs: the single form and the keyed ones."""

    single: Scoped
    sqlite_keyed: Scoped
    pg_keyed: Scoped

    def share_hard_bounces(self, on: bool) -> None:
        """Use the sharing forms or the plain ones (SHARE_HARD_BOUNCES), chosen once, when the
        process's runtime is built: like the ledger's digest key (`chain.use_hash_key`), a
        process-wide choice."""
        self.single, self.sqlite_keyed, self.pg_keyed = SHARING if on else LOCAL


LOCAL = (STATE_SQL, SQLITE_STATE_KEYED_SQL, PG_STATE_KEYED_SQL)
SHARING = (SHARED_STATE_SQL, SHARED_SQLITE_STATE_KEYED_SQL, SHARED_PG_STATE_KEYED_SQL)
# The forms every check and every page reads, changed in place (one object, so every module's
# `from ... import STATE` sees the choice).
STATE = StateStatements(*LOCAL)
