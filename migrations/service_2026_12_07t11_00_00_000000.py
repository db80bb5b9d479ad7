"""The tamper-evident ledger (issue 16): hash-chain columns on `consent_event`, the
`ledger_checkpoint` table, and the chains of the events already written.

Raw SQL on both engines, like the other hand-written migrations. SQLite has no
`ADD COLUMN IF NOT EXISTS`, so the columns present are read first. PostgreSQL gets the index
`consent_event_chain (contact_id COLLATE "C", id)`, which reads the chains in byte order of
their contact ids whatever the database's collation; on SQLite `consent_event_contact_seq`
already does (service/consent/queries.py). Piccolo's single-column `consent_event_contact_id`
goes: `consent_event_contact_seq (contact_id, id)` serves every look-up by contact.

The backfill seals every event already in the database (service/consent/chain.py), chain by
chain in id order, in batches of its own transactions: the migration is not one transaction,
and every step can run again (a column or table already there is left alone, a batch sealed
again gets the same values).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

from service.consent import chain
from service.db.engine import Database
from service.settings import get_settings

ID = "2026-12-07T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tamper-evident ledger: hash chains and checkpoints"
BATCH = 5000
COLUMNS = ("ip_digest", "user_agent_digest", "detail_digest", "prev_hash", "hash")
READ = ("id", "contact_id", "address_key", "channel", "topic", "action", "source",
        "occurred_at", "ip", "user_agent", "wording_version", "campaign", "message_ref",
        "api_key_id", "detail")


class _Raw(Table, tablename="consent_event"):
    """Only a handle for running raw statements on the migration's engine."""


def statements(engine: str, present: set[str]) -> list[str]:
    big = "INTEGER PRIMARY KEY" if engine == "sqlite" else "BIGSERIAL PRIMARY KEY"
    found = "" if engine == "sqlite" else "IF NOT EXISTS "
    adds = [f"ALTER TABLE consent_event ADD COLUMN {found}{column} VARCHAR(64) DEFAULT NULL"
            for column in COLUMNS if column not in present]
    table = (f"CREATE TABLE IF NOT EXISTS ledger_checkpoint (id {big},"
             " created_at TIMESTAMPTZ NOT NULL, last_event_id BIGINT NOT NULL DEFAULT 0,"
             " chains BIGINT NOT NULL DEFAULT 0, events BIGINT NOT NULL DEFAULT 0,"
             " digest VARCHAR(64) NOT NULL DEFAULT '')")
    index = ('CREATE INDEX IF NOT EXISTS consent_event_chain'
             ' ON consent_event (contact_id COLLATE "C", id)')
    # Piccolo's single-column index repeats the first column of consent_event_contact_seq
    # (contact_id, id), which serves every look-up by contact: dropped, so that the chain index
    # adds no index write per event on PostgreSQL, and SQLite writes one fewer.
    drop = "DROP INDEX IF EXISTS consent_event_contact_id"
    return [*adds, table, *([index] if engine == "postgres" else []), drop]


def page_sql(engine: str) -> str:
    contact = 'contact_id COLLATE "C"' if engine == "postgres" else "contact_id"
    return (f"SELECT {', '.join(READ)} FROM consent_event WHERE ({contact}, id) > ($1, $2)"
            f" ORDER BY {contact}, id LIMIT {BATCH}")


UPDATE_SQLITE = ("UPDATE consent_event SET"
                 f" {', '.join(f'{c} = ${i}' for i, c in enumerate(COLUMNS, 1))} WHERE id = $6")
UPDATE_POSTGRES = (
    f"UPDATE consent_event e SET {', '.join(f'{c} = u.{c}' for c in COLUMNS)}"
    " FROM unnest(CAST($1 AS bigint[]), CAST($2 AS text[]), CAST($3 AS text[]),"
    " CAST($4 AS text[]), CAST($5 AS text[]), CAST($6 AS text[]))"
    f" AS u(id, {', '.join(COLUMNS)}) WHERE e.id = u.id"
)


async def backfill(db: Database) -> None:
    """Seal every event, each chain in id order, a batch per transaction."""
    after: tuple[str, int] = ("", 0)
    head: tuple[str | None, str | None] = (None, None)  # (contact id, hash) of the last row
    while True:
        rows = await db.fetch_long(page_sql(db.engine), *after)
        if not rows:
            return
        updates = []
        for row in rows:
            event = dict(zip(READ, row, strict=True))
            sealed = chain.seal(event, head[1] if head[0] == event["contact_id"] else None)
            updates.append((event["id"], *sealed.columns()))
            head = (event["contact_id"], sealed.hash)
        async with db.transaction() as tx:
            if db.is_sqlite:
                await tx.executemany(UPDATE_SQLITE, [(*u[1:], u[0]) for u in updates])
            else:
                await tx.execute(UPDATE_POSTGRES, *[list(c) for c in zip(*updates, strict=True)])
        after = (rows[-1][1], rows[-1][0])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="service", description=DESCRIPTION,
                               wrap_in_transaction=False)

    async def migrate():
        engine = "sqlite" if _Raw._meta.db.engine_type == "sqlite" else "postgres"
        present: set[str] = set()
        if engine == "sqlite":
            present = {r["name"] for r in await _Raw.raw("PRAGMA table_info(consent_event)")}
        for statement in statements(engine, present):
            await _Raw.raw(statement)
        settings = get_settings()
        chain.use_hash_key(settings.hash_key)
        db = Database(settings.database_url)
        await db.open()
        try:
            await backfill(db)
        finally:
            await db.close()

    manager.add_raw(migrate)
    return manager
