"""The privacy capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (export, restriction, wording versions), erasure.py (removing a person),
retention.py (what is kept how long), proof.py (consent proof from the ledger) and jobs.py
(the retention slot claimed in the outbox table).

Every statement on a tenant's rows is `Scoped`: `$1` is the tenant (issue 18). The outbox's
sent and dead jobs are pruned across tenants (plain statements): the outbox is the process's
delivery queue, kept RETENTION_OUTBOX_SENT_DAYS whoever's jobs they were.
"""

from __future__ import annotations

from service.db.keys import placeholders
from service.db.scoped import Scoped

# -- export and restriction (logic.py) ---------------------------------------------------------
EVENT_COLUMNS = ("id", "channel", "topic", "action", "source", "occurred_at", "ip",
                 "user_agent", "wording_version", "campaign", "message_ref", "api_key_id",
                 "detail")
CONTACT = Scoped("SELECT id, external_ref, restricted, created_at, updated_at FROM contact"
                 " WHERE tenant_id = $1 AND id = $2")
ADDRESSES = Scoped("SELECT channel, address_key, normalized, given, created_at"
                   " FROM address WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id")
EVENTS = Scoped(f"SELECT {', '.join(EVENT_COLUMNS)} FROM consent_event"
                " WHERE tenant_id = $1 AND contact_id = $2 ORDER BY id")
SUPPRESSIONS = Scoped("SELECT channel, topic, reason, source, list_name, created_at"
                      " FROM suppression WHERE tenant_id = $1 AND channel = $2"
                      " AND address_key = $3 ORDER BY id")
RESTRICTED = Scoped("SELECT restricted FROM contact WHERE tenant_id = $1 AND id = $2")
SET_RESTRICTED = Scoped("UPDATE contact SET restricted = $2, updated_at = $3"
                        " WHERE tenant_id = $1 AND id = $4")

# -- wording versions (logic.py) ---------------------------------------------------------------
CREATE_WORDING = Scoped("INSERT INTO wording_version (tenant_id, key, text, language,"
                        " created_at) VALUES ($1, $2, $3, $4, $5)"
                        " ON CONFLICT (tenant_id, key) DO NOTHING")
WORDING = Scoped("SELECT key, text, language, created_at FROM wording_version"
                 " WHERE tenant_id = $1 AND key = $2")


def wordings_sql(n: int) -> Scoped:
    """The wording versions with any of the n keys $2…$(n+1), by key."""
    return Scoped("SELECT key, text, language, created_at FROM wording_version"
                  f" WHERE tenant_id = $1 AND key IN ({placeholders(n, 2)}) ORDER BY key")


# -- removing a person (erasure.py) ------------------------------------------------------------
PERSONAL = Scoped("SELECT DISTINCT ip, user_agent FROM consent_event WHERE tenant_id = $1"
                  " AND contact_id = $2 AND (ip IS NOT NULL OR user_agent IS NOT NULL)")
WHOLE_CHANNEL_SUPPRESSED = Scoped("SELECT 1 FROM suppression WHERE tenant_id = $1"
                                  " AND channel = $2 AND address_key = $3 AND topic = $4")
SCRUB_EVENTS = Scoped("UPDATE consent_event SET ip = NULL, user_agent = NULL"
                      " WHERE tenant_id = $1 AND contact_id = $2"
                      " AND (ip IS NOT NULL OR user_agent IS NOT NULL)")
DELETE_PREFERENCES = Scoped("DELETE FROM preference WHERE tenant_id = $1 AND contact_id = $2")
# Through send_log_tenant_key_prefix (the key's first 16 hex digits), the whole key compared.
DELETE_SENDS_OF = Scoped("DELETE FROM send_log WHERE tenant_id = $1 AND channel = $2"
                         " AND substr(address_key, 1, 16) = substr(CAST($3 AS TEXT), 1, 16)"
                         " AND address_key = $3")
DELETE_ADDRESSES = Scoped("DELETE FROM address WHERE tenant_id = $1 AND contact_id = $2")
DELETE_CONTACT = Scoped("DELETE FROM contact WHERE tenant_id = $1 AND id = $2")
EVENT_DETAILS = Scoped("SELECT id, detail FROM consent_event WHERE tenant_id = $1"
                       " AND contact_id = $2 AND detail IS NOT NULL")
# Blank, never rewrite: the event's detail_digest keeps its hash chain verifiable.
BLANK_EVENT_DETAIL = Scoped("UPDATE consent_event SET detail = NULL"
                            " WHERE tenant_id = $1 AND id = $2")
# The tenant's outbox jobs whose payload or last error may mention $2 (a LIKE pattern, lower
# case).
OUTBOX_MENTIONING = Scoped(
    "SELECT id FROM outbox WHERE tenant_id = $1"
    " AND (LOWER(CAST(payload AS TEXT)) LIKE $2 ESCAPE '\\'"
    " OR LOWER(COALESCE(last_error, '')) LIKE $2 ESCAPE '\\')")
OUTBOX_JOB = Scoped("SELECT kind, payload, last_error FROM outbox WHERE tenant_id = $1 AND id = $2")
DELETE_OUTBOX_JOB = Scoped("DELETE FROM outbox WHERE tenant_id = $1 AND id = $2")
REDACT_OUTBOX_JOB = Scoped("UPDATE outbox SET payload = $2, last_error = $3"
                           " WHERE tenant_id = $1 AND id = $4")

# -- retention (retention.py) ------------------------------------------------------------------
ROW_BATCH = 5000  # rows deleted or scrubbed per transaction
# The tenant's contacts ($3: restricted = false) opted out of everything before $2, untouched
# since.
OPTED_OUT_SQL = Scoped("""
FROM contact c
WHERE c.tenant_id = $1 AND c.restricted = $3 AND c.created_at < $2
  AND EXISTS (SELECT 1 FROM address a WHERE a.tenant_id = c.tenant_id AND a.contact_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM preference p WHERE p.tenant_id = c.tenant_id
                  AND p.contact_id = c.id AND p.updated_at >= $2)
  AND NOT EXISTS (
    SELECT 1 FROM address a WHERE a.tenant_id = c.tenant_id AND a.contact_id = c.id
      AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.tenant_id = a.tenant_id
                      AND s.channel = a.channel AND s.address_key = a.address_key
                      AND s.topic = '' AND s.created_at < $2)
      AND NOT EXISTS (SELECT 1 FROM preference p WHERE p.tenant_id = c.tenant_id
                      AND p.contact_id = c.id AND p.channel = a.channel AND p.topic = ''
                      AND p.status = 'opted_out'))
""")
LEDGER_SQL = Scoped("FROM consent_event WHERE tenant_id = $1 AND occurred_at < $2"
                    " AND (ip IS NOT NULL OR user_agent IS NOT NULL)")
OUTBOX_SENT_SQL = "FROM outbox WHERE status = 'sent' AND sent_at < $1"
OUTBOX_DEAD_SQL = "FROM outbox WHERE status = 'dead' AND created_at < $1"
COUNT_OUTBOX_SENT = f"SELECT COUNT(*) {OUTBOX_SENT_SQL}"
COUNT_OUTBOX_DEAD = f"SELECT COUNT(*) {OUTBOX_DEAD_SQL}"
COUNT_LEDGER = Scoped(f"SELECT COUNT(*) {LEDGER_SQL}")
COUNT_OPTED_OUT = Scoped(f"SELECT COUNT(*) {OPTED_OUT_SQL}")
OPTED_OUT_IDS = Scoped(f"SELECT c.id {OPTED_OUT_SQL} ORDER BY c.id LIMIT $4")
STILL_OPTED_OUT = Scoped(f"SELECT 1 {OPTED_OUT_SQL} AND c.id = $4")


def _in_batch(change: str, where_sql: str, scoped: bool = False) -> str:
    # `+tenant_id`: the rows are found by id (SQLite would otherwise walk the tenant's index
    # and look each row up in the batch)
    tenant = "+tenant_id = $1 AND " if scoped else ""
    return f"{change} WHERE {tenant}id IN (SELECT id {where_sql} LIMIT {ROW_BATCH})"


DELETE_OUTBOX_SENT = _in_batch("DELETE FROM outbox", OUTBOX_SENT_SQL)
DELETE_OUTBOX_DEAD = _in_batch("DELETE FROM outbox", OUTBOX_DEAD_SQL)
SCRUB_LEDGER = Scoped(_in_batch("UPDATE consent_event SET ip = NULL, user_agent = NULL",
                                LEDGER_SQL, scoped=True))
# The tenant's recorded sends (service/sends) older than every window that counts them ($2).
# send_log has no index on sent_at (another B-tree written per send, for retention alone) and
# no id (migration 2026-12-08T01:00). SQLite walks it in rowid order (the order sends were
# written in), SENDS_WINDOW rowids ($3 < rowid <= $4) a transaction, each a range of the
# table's own B-tree, so no transaction holds the write lock for more than a window whatever
# the table's size; the windows' bounds are the whole table's (every tenant's rowids: one read
# of each end of the B-tree, where one tenant's would read its whole index). PostgreSQL
# deletes in one statement, one scan: no lock it takes keeps a writer waiting.
# `+tenant_id`: not through send_log_tenant_key_prefix, which SQLite would search on the tenant
# alone (every row of the tenant, each looked up in the table) instead of the rowid window.
SENDS_SQL = Scoped("FROM send_log WHERE +tenant_id = $1 AND sent_at < $2")
COUNT_SENDS = Scoped(f"SELECT COUNT(*) {SENDS_SQL}")
SQLITE_SENDS_ROWIDS = "SELECT MIN(rowid), MAX(rowid) FROM send_log"
SQLITE_DELETE_SENDS = Scoped(f"DELETE {SENDS_SQL} AND rowid > $3 AND rowid <= $4")
PG_DELETE_SENDS = Scoped(f"DELETE {SENDS_SQL}")
SENDS_WINDOW = ROW_BATCH
TRY_LOCK = "SELECT pg_try_advisory_lock($1)"  # PostgreSQL: one retention run at a time
UNLOCK = "SELECT pg_advisory_unlock($1)"
TRY_LOCK_2 = "SELECT pg_try_advisory_lock($1, $2)"  # ... of a tenant other than the default
UNLOCK_2 = "SELECT pg_advisory_unlock($1, $2)"

# -- the retention slot (jobs.py) --------------------------------------------------------------
CLAIM_SLOT = Scoped(
    "INSERT INTO outbox (tenant_id, kind, payload, dedupe_key, status, attempts,"
    " next_attempt_at, created_at, sent_at) VALUES ($1, 'retention', $2, $3, 'sent', 0, $4, $4,"
    " $4) ON CONFLICT (tenant_id, dedupe_key) DO NOTHING")
SLOT_RESULT = Scoped("UPDATE outbox SET payload = $2 WHERE tenant_id = $1 AND dedupe_key = $3")

# -- consent proof (proof.py) ------------------------------------------------------------------
# The tenant's events, each with its wording version: the tenant's own version of that key.
PROOF_SELECT = Scoped(
    "SELECT e.id, e.contact_id, e.address_key, e.channel, e.topic, e.action, e.occurred_at,"
    " e.source, e.ip, e.user_agent, e.wording_version, w.text AS wording_text,"
    " w.language AS wording_language, e.campaign, e.message_ref, e.api_key_id, e.detail"
    " FROM consent_event e LEFT JOIN wording_version w"
    " ON w.tenant_id = e.tenant_id AND w.key = e.wording_version WHERE e.tenant_id = $1"
)
CONTACT_PROOF = Scoped(f"{PROOF_SELECT} AND e.contact_id = $2 AND e.id > $3"
                       " ORDER BY e.id LIMIT $4")
# Events on topic $2, and the whole-channel ($3 = '') events of the people with events on it.
TOPIC_PROOF = Scoped(
    f"{PROOF_SELECT} AND (e.topic = $2 OR (e.topic = $3"
    " AND e.contact_id IN (SELECT t.contact_id FROM consent_event t"
    " WHERE t.tenant_id = $1 AND t.topic = $2))) AND e.id > $4 ORDER BY e.id LIMIT $5")
TOPIC_EXISTS = Scoped("SELECT 1 FROM topic WHERE tenant_id = $1 AND key = $2")


def addresses_of_contacts_sql(n: int) -> Scoped:
    """The addresses of the n contacts $2…$(n+1)."""
    return Scoped("SELECT contact_id, channel, address_key, normalized FROM address"
                  f" WHERE tenant_id = $1 AND contact_id IN ({placeholders(n, 2)}) ORDER BY id")
