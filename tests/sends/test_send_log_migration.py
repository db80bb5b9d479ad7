"""Migration 2026-12-08T01:00 (send_log without id, one narrow index) on a database holding
sends in the table 2026-12-07T10:00 made: every row stays as it was, in the order written, the
checks find them through the new index, and running `migrate` again changes nothing. Both
engines, through the real `python -m service migrate`. The sends are written as the release of
that table wrote them (no tenant); tenants' T1 then runs again on the rebuilt table and puts
them in the default tenant."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

from tests.conftest import migrate
from tests.sends.conftest import new_contact, set_prefs

OLD = importlib.import_module("migrations.service_2026_12_07t10_00_00_000000")
NEW = importlib.import_module("migrations.service_2026_12_08t01_00_00_000000")
TENANTS_T1 = importlib.import_module("migrations.service_2026_12_09t10_00_00_000000")
COLUMNS = "channel, address_key, topic, sent_at, campaign"


async def send_log_indexes(db) -> set[str]:
    if db.is_sqlite:
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type = 'index'"
                              " AND tbl_name = 'send_log' AND sql IS NOT NULL")
    else:
        rows = await db.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'send_log'"
                              " AND indexname <> 'send_log_pkey'")
    return {r[0] for r in rows}


async def back_to_before(db) -> None:
    """send_log as 2026-12-07T10:00 made it (with id and two indexes), and the conversion not
    yet run."""
    await db.execute("DROP TABLE send_log")
    for statement in OLD.statements(db.engine):
        if "send_log" in statement:
            await db.execute(statement)
    for later in (NEW.ID, TENANTS_T1.ID):
        await db.execute("DELETE FROM migration WHERE name = $1", later)


async def send_log_columns(db) -> set[str]:
    if db.is_sqlite:
        return {r["name"] for r in await db.fetch("PRAGMA table_info(send_log)")}
    return {r[0] for r in await db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'send_log'")}


async def test_the_conversion_keeps_every_send_and_the_checks_read_them(
        client, db, rt, settings, topics, mailer, crm):
    await back_to_before(db)
    try:
        assert await send_log_indexes(db) == {"send_log_address", "send_log_sent_at"}
        assert "id" in await send_log_columns(db)
        contact = await new_contact(client, crm, "ann@example.com")
        response = await set_prefs(client, crm, contact, {
            "channel": "email", "topic": "newsletter", "frequency": "weekly"})
        assert response.status_code == 200, response.text
        sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        addresses = ["ann@example.com"] + [f"u{i}@example.com" for i in range(300)]
        keys = sorted(rt.parse_address("email", a)[1] for a in addresses)
        async with db.transaction() as tx:
            for topic, campaign in (("newsletter", "n1"), ("offers", None)):
                await tx.executemany(
                    f"INSERT INTO send_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)",
                    [("email", key, topic, sent_at, campaign) for key in keys])
        before = [tuple(r) for r in await db.fetch(f"SELECT {COLUMNS} FROM send_log ORDER BY id")]
    finally:
        migrate(settings.database_url, settings.data_dir)
    assert await send_log_indexes(db) == {"send_log_key_prefix", "send_log_tenant_key_prefix"}
    assert await send_log_columns(db) == {*COLUMNS.split(", "), "tenant_id"}
    assert await db.fetchval("SELECT COUNT(*) FROM send_log WHERE tenant_id = 1") == 602
    order = " ORDER BY rowid" if db.is_sqlite else ""  # SQLite copied the rows in id order
    after = [tuple(r) for r in await db.fetch(f"SELECT {COLUMNS} FROM send_log{order}")]
    if not db.is_sqlite:  # the rows stayed where they were, in no order a query promises
        before, after = sorted(before, key=str), sorted(after, key=str)
    assert after == before and len(after) == 602
    migrate(settings.database_url, settings.data_dir)  # again: already run, nothing changes
    assert await send_log_indexes(db) == {"send_log_key_prefix", "send_log_tenant_key_prefix"}
    check = (await client.get("/v1/suppressions/check", headers=mailer, params={
        "channel": "email", "address": "ann@example.com", "topic": "newsletter"})).json()
    assert check["reasons"] == ["frequency"], check
    assert datetime.fromisoformat(check["next_allowed_at"].replace("Z", "+00:00")) == (
        sent_at + timedelta(days=7))
