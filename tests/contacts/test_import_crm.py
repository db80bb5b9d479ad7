"""`import contacts` of CRM exports: their headers, `--map`, columns never stored, conflicts,
duplicates, stale rows, dry runs, files of bad rows, and imports of many batches (issue 13)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from service.contacts import import_writes, importer
from service.contacts.import_columns import parse_mapping, plan_columns
from service.db.batches import TimedBatches
from service.db.tables import TABLES
from service.errors import InputError
from tests.conftest import ROOT, cli_env


@pytest.fixture
def cli(settings, tmp_path):
    env = cli_env(settings)

    def run(text: str, *args: str) -> subprocess.CompletedProcess:
        path = tmp_path / "export.csv"
        path.write_text(text, encoding="utf-8")
        return subprocess.run([sys.executable, "-m", "service", "import", "contacts", str(path),
                               *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)

    return run


async def run(rt, text: str, **kwargs) -> import_writes.Stats:
    return await importer.import_contacts(rt, io.BytesIO(text.encode()), **kwargs)


async def count(db, table: str) -> int:
    return await db.fetchval(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 (our table names)


async def everything(db) -> str:
    """Every value of every table, as one text (to show what was never stored)."""
    texts = []
    for table in TABLES:
        for row in await db.fetch(f'SELECT * FROM "{table._meta.tablename}"'):  # noqa: S608
            texts.extend(str(value) for value in tuple(row))
    return "\n".join(texts)


async def test_a_crm_export_imports_every_address_and_consent(rt, db, cli):
    done = cli("ID,First Name,Last Name,E-mail,Mobile,Status\n"
               "crm-1,Annabel,Smithson,Ann@Example.com,020 7946 0958,opted_in\n"
               "crm-2,Bartholomew,Jonesy,bob@example.com,,opted_out\n"
               "crm-3,Cressida,Brownlow,,+447911123456,\n")
    assert done.returncode == 0, done.stderr
    assert "contacts created: 3" in done.stdout
    assert "consents recorded: 3" in done.stdout
    assert "Columns not imported (never stored): First Name, Last Name." in done.stdout
    ann = await db.fetchval("SELECT id FROM contact WHERE external_ref = 'crm-1'")
    addresses = await db.fetch("SELECT channel, normalized FROM address WHERE contact_id = $1"
                               " ORDER BY channel", ann)
    assert [(a["channel"], a["normalized"]) for a in addresses] == [
        ("email", "Ann@example.com"), ("sms", "+442079460958")]
    preferences = await db.fetch("SELECT contact_id, channel, topic, status, seq FROM preference"
                                 " ORDER BY seq")
    assert [(p["channel"], p["topic"], p["status"]) for p in preferences] == [
        ("email", "", "opted_in"), ("sms", "", "opted_in"), ("email", "", "opted_out")]
    for p in preferences:  # each preference names the feed row of its change
        feed = await db.fetchrow("SELECT * FROM change_feed WHERE seq = $1", p["seq"])
        assert (feed["kind"], feed["op"], feed["source"], feed["value"]) == (
            "preference", "updated", "import", p["status"])
        assert (feed["contact_id"], feed["channel"], feed["topic"]) == (
            p["contact_id"], p["channel"], p["topic"])
    events = await db.fetch("SELECT channel, action, source, address_key FROM consent_event"
                            " ORDER BY id")
    assert [(e["channel"], e["action"], e["source"]) for e in events] == [
        ("email", "opt_in", "import"), ("sms", "opt_in", "import"),
        ("email", "opt_out", "import")]
    assert all(e["address_key"] for e in events)
    feed = await db.fetch("SELECT kind, op, address_key, value FROM change_feed"
                          " WHERE kind = 'suppression'")
    bob = rt.parse_address("email", "bob@example.com")[1]
    assert [tuple(f) for f in feed] == [("suppression", "added", bob, "unsubscribed")]
    assert await count(db, "change_feed") == 3 + 1
    stored = await everything(db)
    for name in ("Annabel", "Smithson", "Bartholomew", "Jonesy", "Cressida", "Brownlow"):
        assert name not in stored


async def test_map_names_other_columns_and_refuses_unknown_ones(db, cli):
    text = ("Customer No,Work Address,Texts,Consent,Notes\n"
            "c-9,ann@example.com,+447911123456,opted_in,likes cats\n")
    unknown_field = cli(text, "--map", "Texts=pager")
    assert unknown_field.returncode == 2 and "'pager'" in unknown_field.stderr
    unknown_column = cli(text, "--map", "Fax Number=fax")
    assert unknown_column.returncode == 2 and "'Fax Number'" in unknown_column.stderr
    assert await count(db, "contact") == 0
    done = cli(text, "--map", "customer no=external_ref", "--map", "Work Address=email",
               "--map", "TEXTS=sms", "--map", "Consent=status", "--map", "Notes=ignore")
    assert done.returncode == 0, done.stderr
    assert "not imported (never stored): Notes." in done.stdout
    contact = await db.fetchval("SELECT id FROM contact WHERE external_ref = 'c-9'")
    assert await db.fetchval("SELECT COUNT(*) FROM address WHERE contact_id = $1", contact) == 2
    assert await count(db, "preference") == 2
    assert "likes cats" not in await everything(db)


def test_headers_are_read_case_and_space_insensitively():
    cols = plan_columns(["EMAIL ADDRESS", "e-mail", " Mobile ", "SMS", "phone", "Fax",
                        "Postal_Address", "Id", "Topic", "Occurred At", "nickname"])
    assert [channel for _, channel in cols.addresses] == [
        "email", "email", "sms", "sms", "phone", "fax", "post"]
    assert cols.single == {"external_ref": 7, "topic": 8, "occurred_at": 9}
    assert cols.unused == ["nickname"]
    with pytest.raises(InputError, match="both external_ref"):
        plan_columns(["id", "external_ref", "email"])
    with pytest.raises(InputError, match="address column"):
        plan_columns(["first_name", "last_name"])
    with pytest.raises(InputError, match="--channel"):
        plan_columns(["email"], default_channel="sms")
    with pytest.raises(InputError, match="unknown field 'pager'"):
        parse_mapping(["x=pager"])
    with pytest.raises(InputError, match="COLUMN=FIELD"):
        parse_mapping(["email"])


async def test_conflicts_are_rejected_with_reasons_while_other_rows_import(rt, db, tmp_path):
    await run(rt, "id,email,mobile\nold-1,ann@example.com,\nold-2,,+447911123456\n")
    rejects = io.StringIO()
    stats = await run(rt, "id,email,mobile,status\n"
                          "new-1,ANN@example.com,,opted_in\n"  # ann belongs to old-1
                          "old-1,ann@example.com,+447911123456,opted_in\n"  # mobile: old-2's
                          "new-2,cat@example.com,,opted_in\n"
                          "old-1,ann2@example.com,,\n",  # a second address for old-1
                      rejects=rejects)
    assert (stats.rows, stats.created, stats.matched, stats.rejected) == (4, 1, 1, 2)
    assert dict(stats.rejections) == {
        2: "email: belongs to a contact with another external_ref",
        3: "mobile: is already an address of another contact"}
    lines = rejects.getvalue().splitlines()
    assert lines[0] == "row,reason,id,email,mobile,status"
    assert lines[1].startswith("2,email: belongs to a contact with another external_ref,new-1")
    assert len(lines) == 3
    old = await db.fetchval("SELECT id FROM contact WHERE external_ref = 'old-1'")
    assert await db.fetchval("SELECT COUNT(*) FROM address WHERE contact_id = $1", old) == 2
    assert await db.fetchval("SELECT COUNT(*) FROM preference WHERE contact_id = $1", old) == 0
    assert await count(db, "contact") == 3
    assert await count(db, "consent_event") == 1  # cat's


async def test_a_matched_contact_takes_an_external_ref_only_when_it_has_none(rt, db):
    await run(rt, "email\nann@example.com\n")
    stats = await run(rt, "id,email\ncrm-7,ann@example.com\ncrm-8,ann@example.com\n")
    assert (stats.matched, stats.rejected) == (1, 1)
    assert stats.rejections == [(3, "email: belongs to a contact with another external_ref")]
    assert await db.fetchval("SELECT external_ref FROM contact") == "crm-7"


async def test_duplicate_rows_in_one_batch_make_one_contact(rt, db):
    stats = await run(rt, "email,status,occurred_at\n"
                          "ann@example.com,opted_in,2026-01-01T00:00:00Z\n"
                          "ANN@example.com,opted_out,2026-01-02T00:00:00Z\n"
                          "ann@example.com,opted_out,2026-01-03T00:00:00Z\n"
                          "ann@example.com,opted_in,2025-06-01T00:00:00Z\n")
    assert (stats.created, stats.matched, stats.consents, stats.unchanged, stats.stale) == (
        1, 3, 2, 1, 1)
    assert await count(db, "contact") == 1 and await count(db, "address") == 1
    assert await db.fetchval("SELECT status FROM preference") == "opted_out"
    actions = await db.fetch("SELECT action FROM consent_event ORDER BY id")
    assert [a["action"] for a in actions] == ["opt_in", "opt_out"]
    feed = await db.fetch("SELECT seq, kind, value FROM change_feed ORDER BY seq")
    assert [(f["kind"], f["value"]) for f in feed] == [
        ("preference", "opted_in"), ("preference", "opted_out"), ("suppression", "unsubscribed")]
    assert await db.fetchval("SELECT seq FROM preference") == feed[1]["seq"]


async def test_a_row_older_than_the_preference_held_is_skipped(rt, db):
    await run(rt, "email,mobile,status\nann@example.com,+447911123456,opted_out\n")
    stats = await run(rt, "email,mobile,topic,status,occurred_at\n"
                          "ann@example.com,+447911123456,,opted_in,2024-03-01T00:00:00Z\n"
                          "ann@example.com,,newsletter,opted_in,2024-03-01T00:00:00Z\n")
    assert (stats.stale, stats.consents) == (2, 1)  # email and sms stale; newsletter is new
    statuses = await db.fetch("SELECT channel, topic, status FROM preference ORDER BY channel,"
                              " topic")
    assert [tuple(s) for s in statuses] == [
        ("email", "", "opted_out"), ("email", "newsletter", "opted_in"), ("sms", "", "opted_out")]


async def test_a_topic_one_of_the_row_channels_does_not_offer_rejects_the_row(rt, db):
    stats = await run(rt, "email,mobile,topic,status\n"
                          "ann@example.com,+447911123456,newsletter,opted_in\n"
                          "bob@example.com,+447912345678,offers,opted_in\n")
    assert stats.rejections == [(2, "topic: topic 'newsletter' is not sent on sms "
                                    "(its channels: email)")]
    assert await count(db, "contact") == 1
    topics = await db.fetch("SELECT channel, topic FROM preference ORDER BY channel")
    assert [tuple(t) for t in topics] == [("email", "offers"), ("sms", "offers")]


async def test_a_pause_applies_to_each_channel_and_keeps_the_status(rt, db):
    await run(rt, "email,mobile,status\nann@example.com,+447911123456,opted_in\n")
    stats = await run(rt, "email,mobile,paused_until\n"
                          "ann@example.com,+447911123456,2099-01-01T00:00:00Z\n"
                          "ann@example.com,+447911123456,2099-01-01T00:00:00Z\n")
    assert (stats.consents, stats.unchanged) == (2, 2)
    rows = await db.fetch("SELECT status, paused_until FROM preference")
    assert {r["status"] for r in rows} == {"opted_in"}
    assert all(r["paused_until"].year == 2099 for r in rows)
    detail = await db.fetchval("SELECT detail FROM consent_event WHERE action = 'paused'")
    assert "2099-01-01" in str(detail)


async def test_a_dry_run_of_a_crm_export_writes_nothing(db, cli):
    done = cli("id,email,first_name,status\n"
               "crm-1,ann@example.com,Ann,opted_in\ncrm-2,bob@example.com,Bob,opted_in\n",
               "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "Dry run: nothing was written" in done.stdout
    assert "contacts would be created: 2" in done.stdout
    for table in ("contact", "address", "consent_event", "preference", "change_feed"):
        assert await count(db, table) == 0


async def test_a_file_of_bad_rows_writes_nothing_and_says_why(db, cli):
    done = cli("id,email,status\n"
               "crm-1,not-an-address,opted_in\ncrm-2,,opted_in\ncrm-3,c@example.com,maybe\n")
    assert done.returncode == 1
    assert "3 rows read" in done.stdout and "rejected: 3" in done.stdout
    assert "Every row was rejected: nothing written" in done.stderr
    assert "row 2: email: is not a valid email address" in done.stderr
    assert "row 3: no address" in done.stderr
    assert "row 4: status: 'maybe' is not opted_in, opted_out or empty" in done.stderr
    for table in ("contact", "address", "consent_event", "preference", "change_feed"):
        assert await count(db, table) == 0


class CountedBatches(TimedBatches):
    """Time-sized batches with a target no transaction meets: every batch has MIN_ROWS."""

    def __init__(self):
        super().__init__(first=50, target=1e-9)
        self.transactions = 0

    def record(self, rows: int, seconds: float) -> None:
        self.transactions += 1
        super().record(rows, seconds)


async def test_an_import_larger_than_a_transaction_ends_with_every_row(rt, db):
    # Row i and row i + 120 share an address: the second matches a contact of an earlier batch.
    rows = [f"crm-{i},p{i}@example.com,opted_in\n" for i in range(400)]
    rows += [f"crm-{i},P{i}@example.com,opted_out\n" for i in range(120)]
    batches = CountedBatches()
    stats = await run(rt, "id,email,status\n" + "".join(rows), batches=batches)
    assert batches.transactions >= 10 and stats.batches == batches.transactions
    assert (stats.rows, stats.created, stats.matched, stats.consents, stats.rejected) == (
        520, 400, 120, 520, 0)
    assert await count(db, "contact") == 400 and await count(db, "address") == 400
    assert await count(db, "consent_event") == 520
    assert await count(db, "change_feed") == 520 + 120  # the opt-outs' suppressions
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE reason = 'unsubscribed'"
                             " AND source = 'import'") == 120
    assert await db.fetchval("SELECT COUNT(*) FROM preference WHERE status = 'opted_out'") == 120
    # every preference names the last feed row of its (contact, channel, topic)
    assert await db.fetchval(
        "SELECT COUNT(*) FROM preference p WHERE p.seq <> (SELECT MAX(f.seq) FROM change_feed f"
        " WHERE f.kind = 'preference' AND f.contact_id = p.contact_id"
        " AND f.channel = p.channel AND f.topic = p.topic)") == 0
    seqs = [r["seq"] for r in await db.fetch("SELECT seq FROM change_feed ORDER BY seq")]
    events = [r["id"] for r in await db.fetch("SELECT id FROM consent_event ORDER BY id")]
    assert len(set(seqs)) == 640 and len(set(events)) == 520
