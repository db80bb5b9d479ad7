"""The webhooks capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by apply.py (soft bounces counted per address, in the ESP event's transaction) and
outgoing.py (subscriptions, their delivery cursors, and the change feed they deliver).
Every statement on a tenant's rows is `Scoped`: `$1` is the tenant (issue 18); a subscription
delivers its own tenant's changes only.
"""

from __future__ import annotations

from service.db.scoped import Scoped

# -- incoming ESP events: soft bounces (apply.py) -----------------------------------------------
# Drop the counts of (channel, address key) older than the window's start ($4).
FORGET_SOFT_BOUNCES = Scoped("DELETE FROM soft_bounce WHERE tenant_id = $1 AND channel = $2"
                             " AND address_key = $3 AND occurred_at < $4")
SOFT_BOUNCE_SEEN = Scoped("SELECT 1 FROM soft_bounce WHERE tenant_id = $1 AND channel = $2"
                          " AND address_key = $3 AND occurred_at = $4")
ADD_SOFT_BOUNCE = Scoped("INSERT INTO soft_bounce (tenant_id, channel, address_key, occurred_at)"
                         " VALUES ($1, $2, $3, $4)")
COUNT_SOFT_BOUNCES = Scoped("SELECT COUNT(*) FROM soft_bounce WHERE tenant_id = $1"
                            " AND channel = $2 AND address_key = $3 AND occurred_at >= $4")

# -- outgoing webhooks (outgoing.py) ------------------------------------------------------------
CREATE_SUBSCRIPTION = Scoped(
    "INSERT INTO webhook_subscription (tenant_id, url, secret, active, last_seq, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
LIST_SUBSCRIPTIONS = Scoped("SELECT id, url, active, last_seq, created_at"
                            " FROM webhook_subscription WHERE tenant_id = $1 ORDER BY id")
# The delivery job of a subscription's cursor position, by its dedupe key.
JOB = Scoped("SELECT status, attempts, last_error FROM outbox"
             " WHERE tenant_id = $1 AND dedupe_key = $2")
JOB_STATUS = Scoped("SELECT status FROM outbox WHERE tenant_id = $1 AND dedupe_key = $2")
CURSOR = Scoped("SELECT last_seq FROM webhook_subscription WHERE tenant_id = $1 AND id = $2")
SET_ACTIVE = Scoped("UPDATE webhook_subscription SET active = $2"
                    " WHERE tenant_id = $1 AND id = $3")
DELETE_DEAD_JOB = Scoped("DELETE FROM outbox WHERE tenant_id = $1 AND dedupe_key = $2"
                         " AND status = 'dead'")
DELETE_SUBSCRIPTION = Scoped("DELETE FROM webhook_subscription WHERE tenant_id = $1 AND id = $2")
# Every tenant's active ($1) subscriptions behind their own tenant's end of the feed: the
# fan-out loop serves all tenants in one pass and queues each job in the subscription's tenant.
# The feed's end is one probe of change_feed_tenant_seq per subscription.
BEHIND = ("SELECT s.tenant_id, s.id, s.last_seq FROM webhook_subscription s"
          " WHERE s.active = $1 AND s.last_seq < (SELECT COALESCE(MAX(f.seq), 0)"
          " FROM change_feed f WHERE f.tenant_id = s.tenant_id)")
SUBSCRIPTION = Scoped("SELECT id, url, secret, active, last_seq FROM webhook_subscription"
                      " WHERE tenant_id = $1 AND id = $2")
# The tenant's next batch ($3 changes) after cursor $2.
CHANGES_AFTER = Scoped(
    "SELECT seq, kind, op, channel, address_key, topic, contact_id, value, source, occurred_at"
    " FROM change_feed WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
# Move the cursor to $2, only if it is still where the delivery started ($4): compare-and-set.
MOVE_CURSOR = Scoped("UPDATE webhook_subscription SET last_seq = $2"
                     " WHERE tenant_id = $1 AND id = $3 AND last_seq = $4")
