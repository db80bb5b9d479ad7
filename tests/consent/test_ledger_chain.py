"""The tamper-evident ledger: events written through the real paths (API, one-click, a CSV
import through the command line, a bulk suppression) verify with `python -m service ledger
verify`; an edit made directly in the database is named by event, a deleted tail by the
checkpoint; erasure and retention blank personal fields and every chain still verifies."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from service.consent import chain as chain_module
from service.consent.ledger import Proof, record_event
from service.consent.verify import verify as verify_ledger
from service.privacy.retention import months_before, run_retention
from service.security.tokens import TokenData
from tests.conftest import ROOT, cli_env

TOPICS = [
    {"key": "newsletter", "name": "Newsletter", "channels": ["email"], "legal_basis": "consent"},
    {"key": "offers", "name": "Offers", "channels": ["email", "sms"], "legal_basis": "consent"},
]
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"}
CSV = ("external_ref,channel,address,topic,status,occurred_at,wording_version,campaign\n"
       "crm-1,email,ann@example.com,offers,opted_in,,import-v1,\n"
       "crm-1,email,ann@example.com,newsletter,opted_in,,,\n"
       "crm-3,email,cat@example.com,newsletter,opted_in,,,\n"
       "crm-3,sms,07911 123456,,opted_out,,,\n")


def ledger(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT,
                          env=cli_env(settings), capture_output=True, text=True, timeout=120)


def verify(settings, *args: str) -> subprocess.CompletedProcess:
    return ledger(settings, "ledger", "verify", *args)


async def assert_verified(settings, db) -> str:
    """`ledger verify` passes, naming every event and chain; returns what it printed."""
    result = verify(settings)
    events = await db.fetchval("SELECT COUNT(*) FROM consent_event")
    chains = await db.fetchval("SELECT COUNT(DISTINCT contact_id) FROM consent_event")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"verified {events} events in {chains} chains" in result.stdout
    return result.stdout


def assert_fails(settings, message: str, *args: str) -> None:
    result = verify(settings, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == message


# The same checks in this process (what the command runs), where a subprocess per step would
# only repeat the command's start-up.
async def verified_here(db) -> None:
    report = await verify_ledger(db)
    assert report.mismatch is None, report.mismatch.message()
    assert report.events == await db.fetchval("SELECT COUNT(*) FROM consent_event")


async def fails_here(db, message: str) -> None:
    report = await verify_ledger(db)
    assert report.mismatch is not None and report.mismatch.message() == message


@pytest.fixture
async def written(client, db, rt, admin_headers, settings, tmp_path) -> dict[str, str]:
    """Ann (two email addresses), Bob and Cat, with events from every kind of writer."""
    for topic in TOPICS:
        assert (await client.post("/v1/topics", headers=admin_headers, json=topic)
                ).status_code == 201
    people = {}
    for name, ref, addresses in (("ann", "crm-1", ["ann@example.com", "ann@work.example"]),
                                 ("bob", "crm-2", ["bob@example.com"])):
        created = await client.post("/v1/contacts", headers=admin_headers, json={
            "external_ref": ref,
            "addresses": [{"channel": "email", "address": a} for a in addresses]})
        assert created.status_code == 201, created.text
        people[name] = created.json()["id"]
    # the preferences API, with the request's IP and user agent on the events
    response = await client.put(
        f"/v1/contacts/{people['ann']}/preferences", headers={**admin_headers, **BROWSER},
        json={"preferences": [{"channel": "email", "topic": "newsletter", "status": "opted_in"},
                              {"channel": "email", "status": "opted_in"}],
              "source": "api", "wording_version": "signup-v3"})
    assert response.status_code == 200, response.text
    # concurrent writers to one contact's chain never fork it
    answers = await asyncio.gather(*(client.put(
        f"/v1/contacts/{people['bob']}/preferences", headers=admin_headers,
        json={"preferences": [{"channel": "email", "topic": topic, "status": status}]})
        for topic in ("newsletter", "offers") for status in ("opted_in", "opted_out")))
    assert all(a.status_code == 200 for a in answers)
    # a one-click unsubscribe
    token = rt.signer.sign("unsubscribe", TokenData(people["ann"], "email", "newsletter",
                                                    "spring"))
    client.cookies.clear()
    clicked = await client.post(f"/u/{token}", content="List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded",
                                         **BROWSER})
    assert clicked.status_code == 200
    # a CSV import through the command line: Ann's chain goes on, Cat's starts
    path = tmp_path / "contacts.csv"
    path.write_text(CSV, encoding="utf-8")
    imported = ledger(settings, "import", "contacts", str(path))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    people["cat"] = await db.fetchval("SELECT id FROM contact WHERE external_ref = 'crm-3'")
    # a bulk suppression: `suppressed` events, two of them in Ann's chain in one batch
    bulk = await client.post("/v1/suppressions", headers=admin_headers, json={
        "channel": "email", "reason": "hard_bounce", "source": "esp",
        "addresses": ["ann@example.com", "ann@work.example", "bob@example.com",
                      "nobody@example.com"]})
    assert bulk.status_code in (200, 201) and bulk.json()["added"] == 4, bulk.text
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE contact_id = $1"
                             " AND action = 'suppressed'", people["ann"]) == 2
    return people


async def events_of(db, contact_id: str) -> list:
    return await db.fetch("SELECT id, action, topic, ip, user_agent, hash, prev_hash"
                          " FROM consent_event WHERE contact_id = $1 ORDER BY id", contact_id)


async def test_every_writer_chains_and_an_edit_is_named_by_event(written, db, settings):
    ann = written["ann"]
    await assert_verified(settings, db)
    one = verify(settings, "--contact", written["cat"])
    assert one.returncode == 0 and "verified 2 events in 1 chains" in one.stdout, one.stdout
    chain = await events_of(db, ann)
    assert chain[0]["prev_hash"] is None and chain[0]["ip"] and chain[0]["user_agent"]
    assert [e["prev_hash"] for e in chain[1:]] == [e["hash"] for e in chain[:-1]]
    middle = chain[2]

    # a kept field edited (what a person chose): that event's content no longer matches
    await db.execute("UPDATE consent_event SET action = 'opt_in' WHERE id = $1", middle["id"])
    assert_fails(settings, f"event {middle['id']} (contact {ann}): content does not match")
    assert_fails(settings, f"event {middle['id']} (contact {ann}): content does not match",
                 "--contact", ann)
    await db.execute("UPDATE consent_event SET action = $1 WHERE id = $2", middle["action"],
                     middle["id"])
    # ... and its hash recomputed to suit the edit: then the next event's link breaks
    row = dict(await db.fetchrow("SELECT * FROM consent_event WHERE id = $1", middle["id"]))
    row["topic"] = "offers"
    await db.execute("UPDATE consent_event SET topic = 'offers', hash = $1 WHERE id = $2",
                     chain_module.event_hash(row), middle["id"])
    assert_fails(settings, f"event {chain[3]['id']} (contact {ann}): link does not match")
    await db.execute("UPDATE consent_event SET topic = $1, hash = $2 WHERE id = $3",
                     chain[2]["topic"], middle["hash"], middle["id"])
    await verified_here(db)

    # a digest edited
    first = chain[0]
    await db.execute("UPDATE consent_event SET user_agent_digest = $1 WHERE id = $2",
                     "f" * 64, first["id"])
    assert_fails(settings, f"event {first['id']} (contact {ann}): content does not match")
    await db.execute("UPDATE consent_event SET user_agent_digest = NULL WHERE id = $1",
                     first["id"])  # a field present whose digest went missing
    await fails_here(db, f"event {first['id']} (contact {ann}): content does not match")


async def test_reordered_or_relinked_events_fail_on_the_link(written, db, settings):
    ann = written["ann"]
    chain = await events_of(db, ann)
    a, b = chain[1]["id"], chain[2]["id"]
    columns = ("action", "topic", "channel", "source", "occurred_at", "ip", "user_agent",
               "wording_version", "campaign", "message_ref", "api_key_id", "detail",
               "address_key", "ip_digest", "user_agent_digest", "detail_digest", "prev_hash",
               "hash")
    rows = {r["id"]: r for r in await db.fetch(
        f"SELECT id, {', '.join(columns)} FROM consent_event WHERE id IN ($1, $2)", a, b)}
    setter = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, 1))

    async def put(target: int, source: int) -> None:
        await db.execute(f"UPDATE consent_event SET {setter} WHERE id = ${len(columns) + 1}",
                         *[rows[source][c] for c in columns], target)

    # the two events exchanged, each with its own content and hash: the order is wrong
    await put(a, b)
    await put(b, a)
    assert_fails(settings, f"event {a} (contact {ann}): link does not match")
    await put(a, a)
    await put(b, b)
    await verified_here(db)
    # a link pointed elsewhere
    await db.execute("UPDATE consent_event SET prev_hash = $1 WHERE id = $2", chain[0]["hash"],
                     b)
    await fails_here(db, f"event {b} (contact {ann}): link does not match")
    await db.execute("UPDATE consent_event SET prev_hash = $1 WHERE id = $2", chain[1]["hash"],
                     b)
    # an event taken out of the middle
    await db.execute("DELETE FROM consent_event WHERE id = $1", a)
    await fails_here(db, f"event {b} (contact {ann}): link does not match")


async def test_a_checkpoint_catches_what_links_cannot(written, db, settings):
    none_yet = verify(settings)
    assert none_yet.returncode == 0 and "no checkpoint yet" in none_yet.stdout
    written_cp = ledger(settings, "ledger", "checkpoint")
    assert written_cp.returncode == 0, written_cp.stderr
    checkpoint = await db.fetchrow("SELECT * FROM ledger_checkpoint")
    events = await db.fetchval("SELECT COUNT(*) FROM consent_event")
    assert (checkpoint["events"], checkpoint["last_event_id"]) == (
        events, await db.fetchval("SELECT MAX(id) FROM consent_event"))
    assert checkpoint["chains"] == 3 and len(checkpoint["digest"]) == 64
    assert checkpoint["digest"] in written_cp.stdout
    matched = verify(settings)
    assert matched.returncode == 0 and f"matches checkpoint {checkpoint['id']}" in matched.stdout
    # events after the checkpoint change nothing it covers
    async with db.transaction() as tx:
        await record_event(tx, contact_id=written["bob"], channel="email", topic=None,
                           action="opt_out", proof=Proof(source="admin"))
    await verified_here(db)
    # the last event of a chain deleted: every remaining link holds, the checkpoint does not
    last = await db.fetchval("SELECT MAX(id) FROM consent_event WHERE contact_id = $1"
                             " AND id <= $2", written["cat"], checkpoint["last_event_id"])
    await db.execute("DELETE FROM consent_event WHERE id = $1", last)
    assert_fails(settings, f"checkpoint {checkpoint['id']} does not match")
    ok = verify(settings, "--contact", written["cat"])  # one chain alone: links only
    assert ok.returncode == 0, ok.stdout


async def test_erasure_and_retention_blank_fields_and_chains_still_verify(
        written, db, settings, client, admin_headers):
    ann, bob = written["ann"], written["bob"]
    old = months_before(datetime.now(UTC), 25)
    async with db.transaction() as tx:
        await record_event(tx, contact_id=bob, channel="email", topic="offers",
                           action="opt_in", now=old, detail={"form": "footer"},
                           proof=Proof(source="api", ip="198.51.100.23",
                                       user_agent="Mozilla/5.0 Old", wording_version="w1"))
    assert ledger(settings, "ledger", "checkpoint").returncode == 0
    erased = await client.delete(f"/v1/contacts/{ann}", headers=admin_headers)
    assert erased.status_code == 200, erased.text
    assert all(e["ip"] is None and e["user_agent"] is None for e in await events_of(db, ann))
    counts = await run_retention(db, settings)
    assert counts.ledger_events_scrubbed == 1
    redacted = await db.fetchrow("SELECT id, ip, ip_digest, user_agent FROM consent_event"
                                 " WHERE contact_id = $1 AND occurred_at < $2", bob,
                                 months_before(datetime.now(UTC), 24))
    assert redacted["ip"] is None and redacted["user_agent"] is None and redacted["ip_digest"]
    assert "matches checkpoint" in await assert_verified(settings, db)

    # a blanked field put back with another value is an edit
    await db.execute("UPDATE consent_event SET ip = $1 WHERE id = $2", "203.0.113.99",
                     redacted["id"])
    assert_fails(settings, f"event {redacted['id']} (contact {bob}): content does not match")
    # the value it had still matches its digest (nothing was changed)
    await db.execute("UPDATE consent_event SET ip = $1 WHERE id = $2", "198.51.100.23",
                     redacted["id"])
    await verified_here(db)


async def test_the_migration_seals_events_written_before_it(written, db, settings):
    """Events written before the chain existed (no digests, no hashes) are sealed by the
    migration's backfill, chain by chain, and then verify."""
    migration = importlib.import_module("migrations.service_2026_12_07t11_00_00_000000")
    await db.execute("UPDATE consent_event SET ip_digest = NULL, user_agent_digest = NULL,"
                     " detail_digest = NULL, prev_hash = NULL, hash = NULL")
    assert (await verify_ledger(db)).mismatch is not None
    migration.BATCH = 3  # several pages, so chains run across them
    await migration.backfill(db)
    await assert_verified(settings, db)
