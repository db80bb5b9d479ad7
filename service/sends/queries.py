"""The sends capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (recording what mailers sent). The send decision reads `send_log` through the
state query of service/consent/queries.py; retention prunes it (service/privacy/queries.py).
"""

from __future__ import annotations

COLUMNS = ("channel", "address_key", "topic", "sent_at", "campaign")
# SQLite: one statement run for every row of a batch (executemany, one transaction).
INSERT = ("INSERT INTO send_log (channel, address_key, topic, sent_at, campaign)"
          " VALUES ($1, $2, $3, $4, $5)")
# PostgreSQL: the batch is COPYed straight into this table.
TABLE = "send_log"
