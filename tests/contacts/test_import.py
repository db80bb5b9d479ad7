"""CSV import and export of contacts with their consents, on both engines."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest

from service import transfer
from service.contacts import import_writes, importer
from service.progress import Progress
from tests.conftest import ROOT, cli_env

HEADER = "external_ref,channel,address,topic,status,occurred_at,wording_version,campaign\n"


async def run(rt, text: str, **kwargs) -> import_writes.Stats:
    return await importer.import_contacts(rt, io.BytesIO(text.encode()), **kwargs)


async def test_rows_become_contacts_and_consents_in_the_ledger(rt, db):
    stats = await run(rt, HEADER
                      + "crm-1,email,Ann@Example.com,newsletter,opted_in,2026-01-05T09:00:00Z,"
                        "form-v2,spring\n"
                      + "crm-1,sms,020 7946 0958,,opted_out,,,\n"
                      + "crm-2,email,bob@example.com,,,,,\n")
    assert (stats.rows, stats.created, stats.matched, stats.consents, stats.rejected) == \
        (3, 2, 1, 2, 0)
    ann = await db.fetchval("SELECT id FROM contact WHERE external_ref = 'crm-1'")
    assert await db.fetchval("SELECT COUNT(*) FROM address WHERE contact_id = $1", ann) == 2
    events = await db.fetch("SELECT * FROM consent_event ORDER BY id")
    assert [(e["channel"], e["topic"], e["action"], e["source"]) for e in events] == [
        ("email", "newsletter", "opt_in", "import"), ("sms", "", "opt_out", "import")]
    assert events[0]["wording_version"] == "form-v2" and events[0]["campaign"] == "spring"
    assert events[0]["occurred_at"].isoformat().startswith("2026-01-05T09:00:00")
    assert all(e["address_key"] for e in events)


async def test_rejected_rows_are_reported_with_their_row_and_reason(rt, db):
    rejects = io.StringIO()
    stats = await run(rt, HEADER
                      + "crm-1,email,not-an-address,,,,,\n"
                      + "crm-2,email,b@example.com,nosuch,opted_in,,,\n"
                      + "crm-3,sms,+442079460958,newsletter,opted_in,,,\n"
                      + "crm-4,email,d@example.com,,maybe,,,\n"
                      + "crm-5,pigeon,coo,,,,,\n"
                      + "crm-6,email,f@example.com,,,yesterday,,\n"
                      + "crm-7,email,g@example.com,offers,opted_in,,,\n"
                      + "crm-8,email,G@example.com,,,,,\n",
                      rejects=rejects)
    assert stats.rows == 8 and stats.rejected == 7 and stats.created == 1
    reasons = dict(stats.rejections)
    assert reasons[2].startswith("address: is not a valid email address")
    assert reasons[3] == "topic: unknown topic 'nosuch'"
    assert reasons[4].startswith("topic: topic 'newsletter' is not sent on sms")
    assert reasons[5].startswith("status:")
    assert reasons[6].startswith("channel:")
    assert reasons[7].startswith("occurred_at:")
    assert reasons[9] == "address: belongs to a contact with another external_ref"
    written = rejects.getvalue().splitlines()
    assert written[0].startswith("row,reason,external_ref")
    assert len(written) == 8
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 1


async def test_an_old_list_never_undoes_a_newer_opt_out(rt, db):
    await run(rt, HEADER + "crm-1,email,ann@example.com,newsletter,opted_out,,,\n")
    stats = await run(rt, HEADER + "crm-1,email,ann@example.com,newsletter,opted_in,"
                                   "2024-03-01T00:00:00Z,,\n")
    assert stats.stale == 1 and stats.consents == 0
    assert await db.fetchval("SELECT status FROM preference") == "opted_out"


async def test_dry_run_checks_everything_and_writes_nothing(rt, db, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 2)  # several batches, each rolled back
    rows = "".join(f"crm-{i},email,p{i}@example.com,newsletter,opted_in,,,\n" for i in range(5))
    stats = await run(rt, HEADER + rows + "crm-9,email,bad,,,,,\n", dry_run=True)
    assert (stats.rows, stats.created, stats.consents, stats.rejected) == (6, 5, 5, 1)
    for table in ("contact", "address", "consent_event", "preference", "change_feed"):
        assert await db.fetchval(f"SELECT COUNT(*) FROM {table}") == 0


async def test_many_batches_from_an_unseekable_stream(rt, db, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 3)
    read, write = os.pipe()
    rows = "".join(f",email,p{i}@example.com,,opted_in,,,\n" for i in range(10))
    os.write(write, (HEADER + rows).encode())
    os.close(write)
    progress_out = io.StringIO()
    with os.fdopen(read, "rb") as stream:
        progress = Progress("import contacts", None, progress_out)
        stats = await importer.import_contacts(rt, stream, progress=progress)
    assert stats.created == 10 and stats.consents == 10
    assert "10 rows, 0 rejected" in progress_out.getvalue()
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE source = 'import'") == 10


async def test_a_file_without_an_address_column_is_refused(rt, db):
    from service.errors import InputError

    # (`email` is an address column now: a CRM header, see test_import_crm.py)
    with pytest.raises(InputError) as refused:
        await run(rt, "name,town\nAnn,Leeds\n")
    assert "address column" in refused.value.message
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 0


async def test_export_round_trips(rt, db):
    await run(rt, HEADER + "crm-1,email,ann@example.com,newsletter,opted_in,,,\n"
                         + "crm-1,email,ann@example.com,,opted_out,,,\n"
                         + "crm-2,sms,+442079460958,,,,,\n")
    out = io.StringIO()
    assert await importer.export_contacts(rt, out) == 3
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(importer.EXPORT_COLUMNS)
    assert {tuple(line.split(",")[1:6]) for line in lines[1:]} == {
        ("crm-1", "email", "ann@example.com", "", "opted_out"),
        ("crm-1", "email", "ann@example.com", "newsletter", "opted_in"),
        ("crm-2", "sms", "+442079460958", "", "")}
    again = await importer.import_contacts(rt, io.BytesIO(out.getvalue().encode()))
    assert again.rejected == 0 and again.created == 0 and again.consents == 0
    only_sms = io.StringIO()
    assert await importer.export_contacts(rt, only_sms, "sms") == 1


async def test_the_command_line_imports_with_a_summary(settings, client, db, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(HEADER + "crm-1,email,ann@example.com,,opted_in,,,\n"
                           + "crm-2,email,nope,,,,,\n", encoding="utf-8")
    env = cli_env(settings)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    dry = cli("import", "contacts", str(path), "--dry-run")
    assert dry.returncode == 1, dry.stderr  # a row was rejected
    assert "Dry run: nothing was written" in dry.stdout
    assert "row 3: address:" in dry.stderr
    assert "100%" in dry.stderr  # the progress bar
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 0
    real = cli("import", "contacts", str(path))
    assert "contacts created: 1" in real.stdout
    assert await db.fetchval("SELECT source FROM consent_event") == "import"
    wrong = cli("import", "contacts", str(path), "--reason", "hard_bounce")
    assert wrong.returncode == 2 and "suppressions only" in wrong.stderr
    exported = cli("export", "contacts", "-")
    assert exported.returncode == 0 and "ann@example.com" in exported.stdout


async def test_rejected_rows_name_the_line_they_are_on_past_blank_lines(rt, db, tmp_path):
    rejects = io.StringIO()
    text = ("\ufeff" + HEADER + "\n" + ",email,ann@example.com,,opted_in,,,\n\n"
            + ",email,bad,,,,,\n")
    stats = await importer.import_contacts(rt, io.BytesIO(text.encode() + b",email,\xff@x,,,,,\n"),
                                           rejects=rejects)
    assert (stats.rows, stats.created, stats.rejected) == (3, 1, 2)
    assert [line for line, _ in stats.rejections] == [5, 6]  # the lines an editor shows
    assert stats.rejections[1][1] == "is not UTF-8 text (save the file as UTF-8)"
    written = list(csv.reader(io.StringIO(rejects.getvalue())))
    assert written[0][:3] == ["row", "reason", "external_ref"]  # the BOM is not in the name
    assert [row[0] for row in written[1:]] == ["5", "6"] and written[1][3:6] == [
        "email", "bad", ""]


def test_the_shared_parser_has_the_agreed_options():
    import argparse

    parser = argparse.ArgumentParser()
    transfer.add_import_arguments(parser)
    args = parser.parse_args(["suppressions", "tps.csv", "--channel", "phone", "--reason",
                              "external_list", "--source", "tps", "--list-name", "TPS",
                              "--dry-run"])
    assert (args.kind, args.file, args.channel, args.reason, args.source, args.list_name,
            args.dry_run) == ("suppressions", "tps.csv", "phone", "external_list", "tps",
                              "TPS", True)
