"""The webhooks capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by apply.py (soft bounces counted per address, in the ESP event's transaction) and
outgoing.py (subscriptions, their delivery cursors, and the change feed they deliver).
"""

from __future__ import annotations

# -- incoming ESP events: soft bounces (apply.py) -----------------------------------------------
# Drop the counts of (channel, address key) older than the window's start ($3).
FORGET_SOFT_BOUNCES = ("DELETE FROM soft_bounce WHERE channel = $1 AND address_key = $2"
                       " AND occurred_at < $3")
SOFT_BOUNCE_SEEN = ("SELECT 1 FROM soft_bounce WHERE channel = $1 AND address_key = $2"
                    " AND occurred_at = $3")
ADD_SOFT_BOUNCE = ("INSERT INTO soft_bounce (channel, address_key, occurred_at)"
                   " VALUES ($1, $2, $3)")
COUNT_SOFT_BOUNCES = ("SELECT COUNT(*) FROM soft_bounce WHERE channel = $1 AND address_key = $2"
                      " AND occurred_at >= $3")

# -- outgoing webhooks (outgoing.py) ------------------------------------------------------------
CREATE_SUBSCRIPTION = ("INSERT INTO webhook_subscription (url, secret, active, last_seq,"
                       " created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
LIST_SUBSCRIPTIONS = ("SELECT id, url, active, last_seq, created_at FROM webhook_subscription"
                      " ORDER BY id")
# The delivery job of a subscription's cursor position, by its dedupe key.
JOB = "SELECT status, attempts, last_error FROM outbox WHERE dedupe_key = $1"
JOB_STATUS = "SELECT status FROM outbox WHERE dedupe_key = $1"
CURSOR = "SELECT last_seq FROM webhook_subscription WHERE id = $1"
SET_ACTIVE = "UPDATE webhook_subscription SET active = $1 WHERE id = $2"
DELETE_DEAD_JOB = "DELETE FROM outbox WHERE dedupe_key = $1 AND status = 'dead'"
DELETE_SUBSCRIPTION = "DELETE FROM webhook_subscription WHERE id = $1"
# Active ($1) subscriptions behind the feed's high-water mark $2.
BEHIND = "SELECT id, last_seq FROM webhook_subscription WHERE active = $1 AND last_seq < $2"
SUBSCRIPTION = ("SELECT id, url, secret, active, last_seq FROM webhook_subscription"
                " WHERE id = $1")
# The next batch ($2 changes) after cursor $1.
CHANGES_AFTER = ("SELECT seq, kind, op, channel, address_key, topic, contact_id, value, source,"
                 " occurred_at FROM change_feed WHERE seq > $1 ORDER BY seq LIMIT $2")
# Move the cursor to $1, only if it is still where the delivery started ($3): compare-and-set.
MOVE_CURSOR = ("UPDATE webhook_subscription SET last_seq = $1"
               " WHERE id = $2 AND last_seq = $3")
