"""Every SQL statement of the SMS capability, named."""

# a provider's message seen before: its outcome is the answer to the retry
SEEN_OUTCOME = "SELECT outcome FROM sms_message WHERE provider = $1 AND message_id = $2"
RECORD_MESSAGE = (
    "INSERT INTO sms_message (provider, message_id, received_at, outcome)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (provider, message_id) DO NOTHING"
)
# the number carries the whole-channel opt-out a START may lift (any source: the person's own)
NUMBER_STOPPED = (
    "SELECT COUNT(*) FROM suppression WHERE channel = $1 AND address_key = $2"
    " AND topic = '' AND reason = 'unsubscribed'"
)
