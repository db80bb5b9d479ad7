"""Retention removes exactly what its settings say, and nothing else; runs once per interval."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import asyncpg

from service.consent.ledger import Proof, record_event, set_preference
from service.contacts.store import ensure_contact_for_address
from service.outbox import enqueue
from service.privacy.jobs import claim_slot, run_slot
from service.privacy.retention import LOCK_ID, months_before, retention_once, run_retention
from service.suppression.store import add_suppression
from tests.conftest import ROOT
from tests.privacy.conftest import IP, UA, find_everywhere, make_person

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=10)


async def _contact(db, rt, email: str, when: datetime) -> tuple[str, str]:
    normalized, key = rt.parse_address("email", email)
    async with db.transaction() as tx:
        cid, _ = await ensure_contact_for_address(tx, channel="email", normalized=normalized,
                                                  address_key=key, given=email, now=when)
    return cid, key


async def _pref(db, cid, key, topic, action, when, channel="email"):
    async with db.transaction() as tx:
        await set_preference(tx, contact_id=cid, channel=channel, topic=topic, action=action,
                             address_key=key, now=when,
                             proof=Proof(source="api", ip=IP, user_agent=UA))


async def _exists(db, cid) -> bool:
    return bool(await db.fetchval("SELECT COUNT(*) FROM contact WHERE id = $1", cid))


async def test_opted_out_contacts_go_after_n_days_leaving_only_suppressions(db, rt, settings,
                                                                            topics):
    gone, gone_key = await _contact(db, rt, "gone@example.com", OLD)
    await _pref(db, gone, gone_key, "newsletter", "opt_in", OLD)
    await _pref(db, gone, gone_key, None, "opt_out", OLD)
    bounced, bounced_key = await _contact(db, rt, "bounced@example.com", OLD)
    async with db.transaction() as tx:
        await add_suppression(tx, channel="email", address_key=bounced_key, reason="hard_bounce",
                              source="esp_webhook", now=OLD)
    recent, recent_key = await _contact(db, rt, "recent@example.com", OLD)
    await _pref(db, recent, recent_key, None, "opt_out", RECENT)
    restricted, restricted_key = await _contact(db, rt, "restricted@example.com", OLD)
    await _pref(db, restricted, restricted_key, None, "opt_out", OLD)
    await db.execute("UPDATE contact SET restricted = $1 WHERE id = $2", True, restricted)
    back, back_key = await _contact(db, rt, "back@example.com", OLD)
    await _pref(db, back, back_key, None, "opt_out", OLD)
    await _pref(db, back, back_key, "offers", "opt_in", RECENT)
    topic_only, topic_key = await _contact(db, rt, "topic-only@example.com", OLD)
    await _pref(db, topic_only, topic_key, "newsletter", "opt_out", OLD)
    # a person with two addresses, only one of them opted out: kept
    half = await make_person(db, rt, email="half@example.com", when=OLD)
    await _pref(db, half.contact_id, half.email_key, None, "opt_out", OLD)
    events_before = await db.fetchval("SELECT COUNT(*) FROM consent_event")

    counts = await run_retention(db, settings)

    assert (counts.contacts, counts.addresses, counts.suppressions_added) == (2, 2, 1)
    assert not await _exists(db, gone) and not await _exists(db, bounced)
    for kept in (recent, restricted, back, topic_only, half.contact_id):
        assert await _exists(db, kept)
    assert await find_everywhere(db, ["gone@example.com", "bounced@example.com"]) == []
    suppressions = {(r["address_key"], r["reason"]) for r in await db.fetch(
        "SELECT address_key, reason FROM suppression WHERE topic = ''")}
    assert {(gone_key, "unsubscribed"), (bounced_key, "hard_bounce")} <= suppressions
    assert (gone_key, "erased") not in suppressions
    # the opted-out person's proof stays, without IP or user agent
    kept_events = await db.fetch("SELECT action, ip, user_agent, detail FROM consent_event"
                                 " WHERE contact_id = $1 ORDER BY id", gone)
    assert [e["action"] for e in kept_events] == ["opt_in", "opt_out", "erased"]
    assert all(e["ip"] is None and e["user_agent"] is None for e in kept_events)
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == events_before + 2
    # a second run finds nothing more
    assert (await run_retention(db, settings)).contacts == 0


async def test_ledger_ip_and_user_agent_go_after_n_months_events_stay(db, rt, settings,
                                                                      topics):
    cid, key = await _contact(db, rt, "ledger@example.com", NOW)
    old = months_before(NOW, 25)
    young = months_before(NOW, 23)
    async with db.transaction() as tx:
        for when in (old, young):
            await record_event(tx, contact_id=cid, channel="email", topic="newsletter",
                               action="opt_in", address_key=key, now=when,
                               proof=Proof(source="api", ip=IP, user_agent=UA,
                                           wording_version="w1"))
    counts = await run_retention(db, settings)
    assert counts.ledger_events_scrubbed == 1 and counts.contacts == 0
    rows = await db.fetch("SELECT occurred_at, ip, user_agent, wording_version FROM consent_event"
                          " WHERE contact_id = $1 ORDER BY occurred_at", cid)
    assert [(r["ip"], r["user_agent"], r["wording_version"]) for r in rows] == [
        (None, None, "w1"), (IP, UA, "w1")]
    assert await _exists(db, cid)


async def test_old_sent_and_dead_outbox_jobs_go_pending_and_recent_stay(db, settings):
    async with db.transaction() as tx:
        for name in ("old-sent", "recent-sent", "old-pending", "old-dead", "recent-dead"):
            await enqueue(tx, "email", {"to": f"{name}@example.com", "template": "confirm",
                                        "lang": "en", "context": {}, "list_unsubscribe": None},
                          dedupe_key=name, now=OLD if name.startswith("old") else RECENT)
        await tx.execute("UPDATE outbox SET status = 'sent', sent_at = created_at"
                         " WHERE dedupe_key LIKE '%-sent'")
        await tx.execute("UPDATE outbox SET status = 'dead' WHERE dedupe_key LIKE '%-dead'")
    counts = await run_retention(db, settings)
    assert (counts.outbox_sent_deleted, counts.outbox_dead_deleted) == (1, 1)
    left = sorted(r[0] for r in await db.fetch("SELECT dedupe_key FROM outbox"))
    assert left == ["old-pending", "recent-dead", "recent-sent"]


async def test_zero_keeps_a_kind_and_dry_run_only_counts(db, rt, settings, topics):
    cid, key = await _contact(db, rt, "dry@example.com", OLD)
    await _pref(db, cid, key, None, "opt_out", months_before(NOW, 30))
    dry = await run_retention(db, settings, dry_run=True)
    assert (dry.contacts, dry.ledger_events_scrubbed) == (1, 1)
    assert await _exists(db, cid)
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE ip IS NOT NULL") == 1
    off = settings.model_copy(update={"retention_opted_out_days": 0,
                                      "retention_ledger_pii_months": 0,
                                      "retention_outbox_sent_days": 0})
    assert (await run_retention(db, off)).as_dict() == dict.fromkeys(dry.as_dict(), 0)
    assert await _exists(db, cid)


async def test_every_run_logs_its_counts_and_one_instance_runs_a_slot(db, settings, caplog):
    with caplog.at_level(logging.INFO, logger="service.privacy.retention"):
        counts = await retention_once(db, settings)
    assert counts is not None
    assert "retention removed: 0 contacts opted out of everything" in caplog.text
    runtime = SimpleNamespace(db=db, settings=settings)
    assert await run_slot(runtime, NOW) is True
    assert await run_slot(runtime, NOW) is False  # another instance, same interval
    row = await db.fetchrow("SELECT kind, status, payload FROM outbox WHERE kind = 'retention'")
    payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
    assert row["status"] == "sent" and payload["removed"]["contacts"] == 0
    later = NOW + timedelta(seconds=settings.retention_interval_seconds)
    assert await claim_slot(db, settings.retention_interval_seconds,
                            int(later.timestamp()) // settings.retention_interval_seconds, later)


async def test_on_postgres_a_running_instance_keeps_others_out(db, settings):
    if db.is_sqlite:
        return  # one writer at a time anyway; nothing to lock
    holder = await asyncpg.connect(settings.database_url)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_ID)
        assert await retention_once(db, settings) is None
        await holder.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)
        assert await retention_once(db, settings) is not None
    finally:
        await holder.close()


async def test_retention_once_command_reports_counts(db, rt, settings, tmp_path, topics):
    cid, key = await _contact(db, rt, "cli@example.com", OLD)
    await _pref(db, cid, key, None, "opt_out", OLD)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "DATA_DIR": str(tmp_path),
           "ENVIRONMENT": "test", "SECRET_KEYS": settings.secret_keys[0],
           "HASH_KEY": settings.hash_key}
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "service", "retention", "--once"], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Removed: 1 contacts opted out of everything" in result.stdout
    assert "retention removed: 1 contacts" in result.stderr  # the log line
    assert not await _exists(db, cid)
