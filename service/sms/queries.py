"""Every SQL statement of the SMS capability, named; `$1` is the tenant (issue 18)."""

from service.db.scoped import Scoped

# a provider's message seen before: its outcome is the answer to the retry
SEEN_OUTCOME = Scoped("SELECT outcome FROM sms_message WHERE tenant_id = $1 AND provider = $2"
                      " AND message_id = $3")
RECORD_MESSAGE = Scoped(
    "INSERT INTO sms_message (tenant_id, provider, message_id, received_at, outcome)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, provider, message_id) DO NOTHING"
)
# the number carries the whole-channel opt-out a START may lift (any source: the person's own)
NUMBER_STOPPED = Scoped(
    "SELECT COUNT(*) FROM suppression WHERE tenant_id = $1 AND channel = $2 AND address_key = $3"
    " AND topic = '' AND reason = 'unsubscribed'"
)
