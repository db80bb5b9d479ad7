"""The privacy capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (export, restriction, wording versions), erasure.py (removing a person),
retention.py (what is kept how long), proof.py (consent proof from the ledger) and jobs.py
(the retention slot claimed in the outbox table).
"""

from __future__ import annotations

from service.db.keys import placeholders

# -- export and restriction (logic.py) ---------------------------------------------------------
EVENT_COLUMNS = ("id", "channel", "topic", "action", "source", "occurred_at", "ip",
                 "user_agent", "wording_version", "campaign", "message_ref", "api_key_id",
                 "detail")
CONTACT = "SELECT id, external_ref, restricted, created_at, updated_at FROM contact WHERE id = $1"
ADDRESSES = ("SELECT channel, address_key, normalized, given, created_at"
             " FROM address WHERE contact_id = $1 ORDER BY id")
EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM consent_event WHERE contact_id = $1 ORDER BY id"
SUPPRESSIONS = ("SELECT channel, topic, reason, source, list_name, created_at FROM suppression"
                " WHERE channel = $1 AND address_key = $2 ORDER BY id")
RESTRICTED = "SELECT restricted FROM contact WHERE id = $1"
SET_RESTRICTED = "UPDATE contact SET restricted = $1, updated_at = $2 WHERE id = $3"

# -- wording versions (logic.py) ---------------------------------------------------------------
CREATE_WORDING = ("INSERT INTO wording_version (key, text, language, created_at)"
                  " VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING")
WORDING = "SELECT key, text, language, created_at FROM wording_version WHERE key = $1"


def wordings_sql(n: int) -> str:
    """The wording versions with any of the n keys $1…$n, by key."""
    return ("SELECT key, text, language, created_at FROM wording_version"
            f" WHERE key IN ({placeholders(n)}) ORDER BY key")


# -- removing a person (erasure.py) ------------------------------------------------------------
PERSONAL = ("SELECT DISTINCT ip, user_agent FROM consent_event WHERE contact_id = $1"
            " AND (ip IS NOT NULL OR user_agent IS NOT NULL)")
WHOLE_CHANNEL_SUPPRESSED = ("SELECT 1 FROM suppression WHERE channel = $1 AND"
                            " address_key = $2 AND topic = $3")
SCRUB_EVENTS = ("UPDATE consent_event SET ip = NULL, user_agent = NULL WHERE contact_id = $1"
                " AND (ip IS NOT NULL OR user_agent IS NOT NULL)")
DELETE_PREFERENCES = "DELETE FROM preference WHERE contact_id = $1"
# Through send_log_key_prefix (the key's first 16 hex digits), the whole key compared.
DELETE_SENDS_OF = ("DELETE FROM send_log WHERE channel = $1 AND substr(address_key, 1, 16) ="
                   " substr(CAST($2 AS TEXT), 1, 16) AND address_key = $2")
DELETE_ADDRESSES = "DELETE FROM address WHERE contact_id = $1"
DELETE_CONTACT = "DELETE FROM contact WHERE id = $1"
EVENT_DETAILS = ("SELECT id, detail FROM consent_event WHERE contact_id = $1"
                 " AND detail IS NOT NULL")
# Blank, never rewrite: the event's detail_digest keeps its hash chain verifiable.
BLANK_EVENT_DETAIL = "UPDATE consent_event SET detail = NULL WHERE id = $1"
# Outbox jobs whose payload or last error may mention $1 (a LIKE pattern, lower case).
OUTBOX_MENTIONING = ("SELECT id FROM outbox WHERE LOWER(CAST(payload AS TEXT)) LIKE $1 ESCAPE '\\'"
                     " OR LOWER(COALESCE(last_error, '')) LIKE $1 ESCAPE '\\'")
OUTBOX_JOB = "SELECT kind, payload, last_error FROM outbox WHERE id = $1"
DELETE_OUTBOX_JOB = "DELETE FROM outbox WHERE id = $1"
REDACT_OUTBOX_JOB = "UPDATE outbox SET payload = $1, last_error = $2 WHERE id = $3"

# -- retention (retention.py) ------------------------------------------------------------------
ROW_BATCH = 5000  # rows deleted or scrubbed per transaction
# Contacts ($2: restricted = false) opted out of everything before $1, untouched since.
OPTED_OUT_SQL = """
FROM contact c
WHERE c.restricted = $2 AND c.created_at < $1
  AND EXISTS (SELECT 1 FROM address a WHERE a.contact_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM preference p WHERE p.contact_id = c.id AND p.updated_at >= $1)
  AND NOT EXISTS (
    SELECT 1 FROM address a WHERE a.contact_id = c.id
      AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.channel = a.channel
                      AND s.address_key = a.address_key AND s.topic = '' AND s.created_at < $1)
      AND NOT EXISTS (SELECT 1 FROM preference p WHERE p.contact_id = c.id
                      AND p.channel = a.channel AND p.topic = '' AND p.status = 'opted_out'))
"""
LEDGER_SQL = ("FROM consent_event WHERE occurred_at < $1"
              " AND (ip IS NOT NULL OR user_agent IS NOT NULL)")
OUTBOX_SENT_SQL = "FROM outbox WHERE status = 'sent' AND sent_at < $1"
OUTBOX_DEAD_SQL = "FROM outbox WHERE status = 'dead' AND created_at < $1"
COUNT_OUTBOX_SENT = f"SELECT COUNT(*) {OUTBOX_SENT_SQL}"
COUNT_OUTBOX_DEAD = f"SELECT COUNT(*) {OUTBOX_DEAD_SQL}"
COUNT_LEDGER = f"SELECT COUNT(*) {LEDGER_SQL}"
COUNT_OPTED_OUT = f"SELECT COUNT(*) {OPTED_OUT_SQL}"
OPTED_OUT_IDS = f"SELECT c.id {OPTED_OUT_SQL} ORDER BY c.id LIMIT $3"
STILL_OPTED_OUT = f"SELECT 1 {OPTED_OUT_SQL} AND c.id = $3"


def _in_batch(change: str, where_sql: str) -> str:
    return f"{change} WHERE id IN (SELECT id {where_sql} LIMIT {ROW_BATCH})"


DELETE_OUTBOX_SENT = _in_batch("DELETE FROM outbox", OUTBOX_SENT_SQL)
DELETE_OUTBOX_DEAD = _in_batch("DELETE FROM outbox", OUTBOX_DEAD_SQL)
SCRUB_LEDGER = _in_batch("UPDATE consent_event SET ip = NULL, user_agent = NULL", LEDGER_SQL)
# Recorded sends (service/sends) older than every window that counts them ($1). send_log has
# no index on sent_at (another B-tree written per send, for retention alone) and no id
# (migration 2026-12-08T01:00). SQLite walks it in rowid order (the order sends were written
# in), SENDS_WINDOW rowids ($2 < rowid <= $3) a transaction, each a range of the table's own
# B-tree, so no transaction holds the write lock for more than a window whatever the table's
# size. PostgreSQL deletes in one statement, one scan: no lock it takes keeps a writer waiting.
SENDS_SQL = "FROM send_log WHERE sent_at < $1"
COUNT_SENDS = f"SELECT COUNT(*) {SENDS_SQL}"
SQLITE_SENDS_ROWIDS = "SELECT MIN(rowid), MAX(rowid) FROM send_log"
SQLITE_DELETE_SENDS = f"DELETE {SENDS_SQL} AND rowid > $2 AND rowid <= $3"
PG_DELETE_SENDS = f"DELETE {SENDS_SQL}"
SENDS_WINDOW = ROW_BATCH
TRY_LOCK = "SELECT pg_try_advisory_lock($1)"  # PostgreSQL: one retention run at a time
UNLOCK = "SELECT pg_advisory_unlock($1)"

# -- the retention slot (jobs.py) --------------------------------------------------------------
CLAIM_SLOT = ("INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, next_attempt_at,"
              " created_at, sent_at) VALUES ('retention', $1, $2, 'sent', 0, $3, $3, $3)"
              " ON CONFLICT (dedupe_key) DO NOTHING")
SLOT_RESULT = "UPDATE outbox SET payload = $1 WHERE dedupe_key = $2"

# -- consent proof (proof.py) ------------------------------------------------------------------
PROOF_SELECT = (
    "SELECT e.id, e.contact_id, e.address_key, e.channel, e.topic, e.action, e.occurred_at,"
    " e.source, e.ip, e.user_agent, e.wording_version, w.text AS wording_text,"
    " w.language AS wording_language, e.campaign, e.message_ref, e.api_key_id, e.detail"
    " FROM consent_event e LEFT JOIN wording_version w ON w.key = e.wording_version"
)
CONTACT_PROOF = f"{PROOF_SELECT} WHERE e.contact_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3"
# Events on topic $1, and the whole-channel ($2 = '') events of the people with events on it.
TOPIC_PROOF = (f"{PROOF_SELECT} WHERE (e.topic = $1 OR (e.topic = $2 AND e.contact_id IN"
               " (SELECT contact_id FROM consent_event WHERE topic = $1))) AND e.id > $3"
               " ORDER BY e.id LIMIT $4")
TOPIC_EXISTS = "SELECT 1 FROM topic WHERE key = $1"


def addresses_of_contacts_sql(n: int) -> str:
    """The addresses of the n contacts $1…$n."""
    return ("SELECT contact_id, channel, address_key, normalized FROM address"
            f" WHERE contact_id IN ({placeholders(n)}) ORDER BY id")
