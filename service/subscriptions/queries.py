"""The subscriptions capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (double opt-in: pending topics, the confirmation link's target, the wording a
pending consent was given with) and signup.py (the address a sign-up created or matched).
"""

from __future__ import annotations

# The pending topics of (contact $1, channel $2), by key (logic.pending_topics).
PENDING_TOPICS = (
    "SELECT topic FROM preference WHERE contact_id = $1 AND channel = $2"
    " AND status = 'pending' AND topic <> '' ORDER BY topic"
)
# The address a confirmation link names ($1, its id), if it still belongs to contact $2 on
# channel $3 (logic.load_target).
TARGET_ADDRESS = (
    "SELECT address_key FROM address WHERE id = $1 AND contact_id = $2 AND channel = $3"
)
# The wording version shown when (contact, channel, topic) became pending, the latest first.
PENDING_WORDING = (
    "SELECT wording_version FROM consent_event WHERE contact_id = $1 AND channel = $2"
    " AND topic = $3 AND action = 'pending' ORDER BY id DESC LIMIT 1"
)
# The text of address $1, where a renewed confirmation email goes (logic.renew).
ADDRESS_TEXT = "SELECT normalized FROM address WHERE id = $1"
# The id of (channel $1, address key $2), for the confirmation link (signup.subscribe).
ADDRESS_ID = "SELECT id FROM address WHERE channel = $1 AND address_key = $2"
