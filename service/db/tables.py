"""The data model of the design brief as Piccolo tables (schema and migrations).

Composite unique constraints are raw `CREATE UNIQUE INDEX` statements in the migration, because
Piccolo's composite `Unique` does not work on SQLite. A whole-channel preference or suppression
stores the topic as the empty string (not NULL), so that those unique indexes hold on both engines.

Tenants (issue 18, docs/plans/tenants.md): every table of TABLES is owned by a tenant and has
`tenant_id` (NOT NULL DEFAULT 1, the default tenant); `tenant` and `shared_bounce` are global.
"""

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

WHOLE_CHANNEL = ""  # the topic value meaning "the whole channel"


class Tenant(Table, tablename="tenant"):
    """A brand or client whose data is kept apart; id 1 is the default tenant (migration
    2026-12-09T10). Not in TABLES: tests empty TABLES between tests, the default must stay."""

    slug = Varchar(length=40, unique=True)
    name = Varchar(length=200)
    controller_group = Varchar(length=64, null=True, default=None)
    settings = Text(default="{}")  # JSON: the tenant's non-secret settings
    domains = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Contact(Table, tablename="contact"):
    id = Varchar(length=36, primary_key=True)
    external_ref = Varchar(length=255, null=True, default=None, unique=True)
    restricted = Boolean(default=False)  # GDPR art. 18: no non-transactional sending
    created_at = Timestamptz()
    updated_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class Address(Table, tablename="address"):
    """One channel identifier of a contact; (channel, address_key) is unique."""

    contact_id = ForeignKey(Contact, on_delete=OnDelete.cascade, index=True)
    channel = Varchar(length=8)
    address_key = Varchar(length=64)  # hex HMAC-SHA256 of family + ":" + normalized
    normalized = Text()
    given = Text()
    created_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class Topic(Table, tablename="topic"):
    key = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    description = Text(default="")
    channels = JSON(default="[]")
    legal_basis = Varchar(length=32, default="consent")
    transactional = Boolean(default=False)
    sale_or_sharing = Boolean(default=False)  # data goes to third parties: GPC opts out
    archived_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # the frequencies a person may choose, a JSON list (migration 2026-12-07; docs/consent.md)
    frequencies = Text(default='["immediate"]')
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class WordingVersion(Table, tablename="wording_version"):
    """Consent text shown on a form or page, referenced from the ledger by key."""

    key = Varchar(length=100, unique=True)
    text = Text()
    language = Varchar(length=16, default="en")
    created_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class ConsentEvent(Table, tablename="consent_event"):
    """The append-only ledger (GDPR art. 7 proof). Never updated except by erasure/retention."""

    id = BigSerial(primary_key=True)
    # No foreign key: the proof outlives erasure. Indexed by consent_event_contact_seq
    # (contact_id, id), and on PostgreSQL consent_event_chain (migrations).
    contact_id = Varchar(length=36)
    address_key = Varchar(length=64, null=True, default=None)
    channel = Varchar(length=8)
    topic = Varchar(length=64, default=WHOLE_CHANNEL)
    action = Varchar(length=16)
    source = Varchar(length=32)
    occurred_at = Timestamptz()
    ip = Varchar(length=64, null=True, default=None)
    user_agent = Text(null=True, default=None)
    wording_version = Varchar(length=100, null=True, default=None)
    campaign = Varchar(length=200, null=True, default=None)
    message_ref = Varchar(length=200, null=True, default=None)
    api_key_id = Integer(null=True, default=None)
    detail = JSON(null=True, default=None)
    # The hash chain (service/consent/chain.py): keyed digests of the personal fields, kept
    # when erasure or retention blanks them; the previous event's hash (NULL for a contact's
    # first event) and this event's. Added by migration 2026-12-07T11.
    ip_digest = Varchar(length=64, null=True, default=None)
    user_agent_digest = Varchar(length=64, null=True, default=None)
    detail_digest = Varchar(length=64, null=True, default=None)
    prev_hash = Varchar(length=64, null=True, default=None)
    hash = Varchar(length=64, null=True, default=None)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class LedgerCheckpoint(Table, tablename="ledger_checkpoint"):
    """A digest over every chain head as of `last_event_id`, for notarising outside."""

    id = BigSerial(primary_key=True)
    created_at = Timestamptz()
    last_event_id = BigInt(default=0)
    chains = BigInt(default=0)
    events = BigInt(default=0)
    digest = Varchar(length=64)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class Preference(Table, tablename="preference"):
    """Current status per (contact, channel, topic); written with its ledger event."""

    contact_id = ForeignKey(Contact, on_delete=OnDelete.cascade)
    channel = Varchar(length=8)
    topic = Varchar(length=64, default=WHOLE_CHANNEL)
    status = Varchar(length=16)
    paused_until = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
    seq = BigInt(default=0)
    # the person's pace (issue 17): NULL means none chosen ("immediate", no cap)
    frequency = Varchar(length=16, null=True, default=None)  # on a topic's row
    max_per_week = Integer(null=True, default=None)  # on the whole-channel row
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class Suppression(Table, tablename="suppression"):
    """(channel, address key, topic, reason); exists with or without a contact."""

    id = BigSerial(primary_key=True)
    channel = Varchar(length=8)
    address_key = Varchar(length=64)
    topic = Varchar(length=64, default=WHOLE_CHANNEL)
    reason = Varchar(length=16)
    source = Varchar(length=32)
    list_name = Varchar(length=32, null=True, default=None)
    contact_id = Varchar(length=36, null=True, default=None, index=True)
    created_at = Timestamptz()
    seq = BigInt(default=0)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class ChangeFeed(Table, tablename="change_feed"):
    """Every change to a suppression or preference; `seq` is the feed's cursor."""

    seq = BigSerial(primary_key=True)
    kind = Varchar(length=16)  # suppression | preference
    op = Varchar(length=16)  # added | removed | updated
    channel = Varchar(length=8)
    address_key = Varchar(length=64, null=True, default=None)
    topic = Varchar(length=64, default=WHOLE_CHANNEL)
    contact_id = Varchar(length=36, null=True, default=None)
    value = Varchar(length=32)  # the suppression reason or the preference status
    source = Varchar(length=32, default="")
    occurred_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class ApiKey(Table, tablename="api_key"):
    name = Varchar(length=100)
    prefix = Varchar(length=16, unique=True)  # public part of the key, used to find the row
    secret_hash = Varchar(length=64)  # hex SHA-256 of the whole key; the key itself is not kept
    scopes = Text()  # space-separated
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class Outbox(Table, tablename="outbox"):
    """Durable jobs (emails, webhook deliveries), retried with backoff."""

    id = BigSerial(primary_key=True)
    kind = Varchar(length=16)  # email | webhook
    payload = JSON()
    dedupe_key = Varchar(length=200, null=True, default=None, unique=True)
    status = Varchar(length=16, default="pending")  # pending | sent | dead
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    locked_until = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class WebhookSubscription(Table, tablename="webhook_subscription"):
    """A CRM endpoint that receives every change of the feed, signed with its secret."""

    url = Text()
    secret = Varchar(length=100)
    active = Boolean(default=True)
    last_seq = BigInt(default=0)
    created_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class SoftBounce(Table, tablename="soft_bounce"):
    channel = Varchar(length=8)
    address_key = Varchar(length=64)
    occurred_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class SmsMessage(Table, tablename="sms_message"):
    """An inbound SMS, by the provider's own id: a provider's retry is answered from here and
    writes nothing twice. Unique on (provider, message_id) (migration 2026-12-06)."""

    provider = Varchar(length=16)
    message_id = Varchar(length=100)
    received_at = Timestamptz()
    outcome = Varchar(length=32)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class OptOutCode(Table, tablename="opt_out_code"):
    """A printed opt-out code (post, fax): only HMAC-SHA256(HASH_KEY, code) is kept, never the
    code itself; what it stops is the (contact, channel, topic, campaign) of a signed link."""

    code_hash = Varchar(length=64, primary_key=True)
    contact_id = ForeignKey(Contact, on_delete=OnDelete.cascade, index=True)
    channel = Varchar(length=8)
    topic = Varchar(length=64)  # a topic key, or WHOLE_CHANNEL
    campaign = Varchar(length=200)
    created_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class ExternalList(Table, tablename="external_list"):
    """A national do-not-call list (TPS, CTPS, FPS, MPS, DNC) as of its last snapshot import:
    its date (ISO text, the same on both engines) drives the staleness rule of the checks."""

    name = Varchar(length=32, unique=True)
    channel = Varchar(length=8)
    as_of = Varchar(length=10)  # YYYY-MM-DD
    size = BigInt(default=0)
    imported_at = Timestamptz()
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class ExternalListKey(Table, tablename="external_list_key"):
    """The address keys of a snapshot import in progress, by list: what the lift compares the
    list's suppressions against; emptied when the import ends."""

    list_name = Varchar(length=32)
    address_key = Varchar(length=64)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


class SendLog(Table, tablename="send_log"):
    """A message a mailer sent (POST /v1/sends), by address key, kept only as long as the
    longest frequency window needs (retention prunes it). The table has no `id` (migration
    2026-12-08T01:00: it cost every send a sequence value and an index entry on PostgreSQL);
    piccolo needs a primary key here, and nothing reads send_log through this class."""

    id = BigSerial(primary_key=True)
    channel = Varchar(length=8)
    address_key = Varchar(length=64)
    topic = Varchar(length=64)
    sent_at = Timestamptz()
    campaign = Varchar(length=200, null=True, default=None)
    tenant_id = Integer(default=1)  # migration 2026-12-09T10 (tenants T1)


TABLES = [
    Contact, Address, Topic, WordingVersion, ConsentEvent, LedgerCheckpoint, Preference,
    Suppression, ChangeFeed, ApiKey, Outbox, WebhookSubscription, SoftBounce, SmsMessage,
    OptOutCode, ExternalList, ExternalListKey, SendLog,
]

# Every table of TABLES is tenant-owned; the global ones have no tenant_id. `shared_bounce`
# (the operator's shared hard bounces) is raw SQL only, like send_log's real shape.
TENANT_OWNED = tuple(table._meta.tablename for table in TABLES)
GLOBAL_TABLES = ("tenant", "shared_bounce")
