"""The records capability's SQL, by name: what consent records and receipts are built from.

Read by logic.py only. The IP and user agent of ledger events are never selected here: they
stay in the export (`privacy`), never in a record or a receipt.
"""

from __future__ import annotations

from service.db.keys import placeholders
from service.db.scoped import Scoped

EVENT_COLUMNS = ("id", "channel", "topic", "action", "source", "occurred_at",
                 "wording_version", "campaign")
# The tenant's events; each statement below narrows it.
_EVENT_SELECT = Scoped(
    f"SELECT {', '.join(EVENT_COLUMNS)} FROM consent_event WHERE tenant_id = $1")
# A contact's ledger, oldest first (the timeline of each record).
EVENTS = Scoped(f"{_EVENT_SELECT} AND contact_id = $2 ORDER BY id")
# One event of a contact (a foreign id finds nothing).
EVENT = Scoped(f"{_EVENT_SELECT} AND id = $2 AND contact_id = $3")
# A contact's opt-in events ($3, $4: the opt-in actions), oldest first.
OPT_INS = Scoped(f"{_EVENT_SELECT} AND contact_id = $2 AND action IN ($3, $4) ORDER BY id")
PREFERENCES = Scoped("SELECT channel, topic, status, paused_until, updated_at FROM preference"
                     " WHERE tenant_id = $1 AND contact_id = $2 ORDER BY channel, topic")


def wordings_sql(n: int) -> Scoped:
    """The tenant's wording versions with any of the n keys $2…$(n+1)."""
    return Scoped("SELECT key, text, language FROM wording_version"
                  f" WHERE tenant_id = $1 AND key IN ({placeholders(n, 2)}) ORDER BY key")
