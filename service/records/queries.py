"""The records capability's SQL, by name: what consent records and receipts are built from.

Read by logic.py only. The IP and user agent of ledger events are never selected here: they
stay in the export (`privacy`), never in a record or a receipt.
"""

from __future__ import annotations

from service.db.keys import placeholders

EVENT_COLUMNS = ("id", "channel", "topic", "action", "source", "occurred_at",
                 "wording_version", "campaign")
_EVENT_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM consent_event"
# A contact's ledger, oldest first (the timeline of each record).
EVENTS = f"{_EVENT_SELECT} WHERE contact_id = $1 ORDER BY id"
# One event of a contact (a foreign id finds nothing).
EVENT = f"{_EVENT_SELECT} WHERE id = $1 AND contact_id = $2"
# A contact's opt-in events ($2, $3: the opt-in actions), oldest first.
OPT_INS = f"{_EVENT_SELECT} WHERE contact_id = $1 AND action IN ($2, $3) ORDER BY id"
PREFERENCES = ("SELECT channel, topic, status, paused_until, updated_at FROM preference"
               " WHERE contact_id = $1 ORDER BY channel, topic")


def wordings_sql(n: int) -> str:
    """The wording versions with any of the n keys $1…$n."""
    return ("SELECT key, text, language FROM wording_version"
            f" WHERE key IN ({placeholders(n)}) ORDER BY key")
