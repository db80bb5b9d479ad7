"""The subscriptions capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (double opt-in: pending topics, the confirmation link's target, the wording a
pending consent was given with) and signup.py (the address a sign-up created or matched).
"""

from __future__ import annotations

from service.db.scoped import Scoped

# The pending topics of (contact $2, channel $3), by key (logic.pending_topics).
PENDING_TOPICS = Scoped(
    "SELECT topic FROM preference WHERE tenant_id = $1 AND contact_id = $2 AND channel = $3"
    " AND status = 'pending' AND topic <> '' ORDER BY topic"
)
# The address a confirmation link names ($2, its id), if it still belongs to contact $3 on
# channel $4 (logic.load_target).
TARGET_ADDRESS = Scoped(
    "SELECT address_key FROM address WHERE tenant_id = $1 AND id = $2 AND contact_id = $3"
    " AND channel = $4"
)
# The wording version shown when (contact, channel, topic) became pending, the latest first.
PENDING_WORDING = Scoped(
    "SELECT wording_version FROM consent_event WHERE tenant_id = $1 AND contact_id = $2"
    " AND channel = $3 AND topic = $4 AND action = 'pending' ORDER BY id DESC LIMIT 1"
)
# The text of address $2, where a renewed confirmation email goes (logic.renew).
ADDRESS_TEXT = Scoped("SELECT normalized FROM address WHERE tenant_id = $1 AND id = $2")
# The id of (channel $2, address key $3), for the confirmation link (signup.subscribe).
ADDRESS_ID = Scoped(
    "SELECT id FROM address WHERE tenant_id = $1 AND channel = $2 AND address_key = $3"
)
