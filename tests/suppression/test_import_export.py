"""`python -m service import|export suppressions`: the real command line, on both engines."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

from service.csvfiles import guard_cell
from tests.conftest import ROOT, cli_env


def run(settings, *argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service", *argv], cwd=ROOT,
                          env=cli_env(settings),
                          input=stdin, capture_output=True, timeout=120)


async def import_again(settings, db, tmp_path, exported: bytes, reason: str) -> set:
    """Empty the suppression list, import an exported file into it; (address_key, topic)s."""
    path = tmp_path / "export.csv"
    path.write_bytes(exported)
    await db.execute("DELETE FROM suppression")
    again = run(settings, "import", "suppressions", str(path), "--channel", "email",
                "--reason", reason)
    assert again.returncode == 0, again.stderr
    return {(r[0], r[1]) for r in await db.fetch("SELECT address_key, topic FROM suppression")}


async def test_import_adds_never_lifts_and_reports_bad_rows(world, settings, db, tmp_path):
    await world.suppress("ann@example.com", "complaint")
    await world.suppress("bob@example.com", "unsubscribed")
    bob = await world.contact("bob@example.com")
    path = tmp_path / "list.csv"
    path.write_text("Email,topic\nann@example.com,\nBOB@example.com,\nnot-an-address,\n"
                    "cy@example.com,offers\ndee@example.com,nope\n,\n"
                    f"{world.key('email', 'eve@example.com')},\n")
    result = run(settings, "import", "suppressions", str(path), "--channel", "email",
                 "--reason", "unsubscribed", "--source", "crm-export")
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "row 4: 'not-an-address' is not a valid email address" in err
    assert "row 6: unknown topic 'nope'" in err
    assert "added 3, already 1, rejected 2" in err
    rows = {(r["address_key"], r["topic"], r["reason"]) for r in await db.fetch(
        "SELECT address_key, topic, reason FROM suppression")}
    key = world.key
    assert rows == {
        (key("email", "ann@example.com"), "", "complaint"),  # still there
        (key("email", "ann@example.com"), "", "unsubscribed"),
        (key("email", "bob@example.com"), "", "unsubscribed"),
        (key("email", "cy@example.com"), "offers", "unsubscribed"),
        (key("email", "eve@example.com"), "", "unsubscribed"),
    }
    source = await db.fetchval("SELECT source FROM suppression WHERE address_key = $1",
                               key("email", "cy@example.com"))
    assert source == "crm-export"
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE contact_id = $1",
                             bob) == 0  # bob was suppressed already: nothing new to record


async def test_national_lists_dry_run_and_usage_errors(world, settings, db, tmp_path):
    path = tmp_path / "tps.csv"
    path.write_text("020 7946 0958\n+44 20 7946 0959\n02079460958\n")
    assert run(settings, "import", "suppressions", str(path), "--channel", "phone",
               "--reason", "external_list").returncode == 2  # no --list-name
    wrong = run(settings, "import", "suppressions", str(path), "--channel", "fax",
                "--reason", "external_list", "--list-name", "TPS")
    assert wrong.returncode == 2 and b"for channel phone" in wrong.stderr
    dry = run(settings, "import", "suppressions", str(path), "--channel", "phone",
              "--reason", "external_list", "--list-name", "tps", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert b"would add 2, already 1" in dry.stderr
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0
    done = run(settings, "import", "suppressions", "-", "--channel", "phone",
               "--reason", "external_list", "--list-name", "tps", stdin=path.read_bytes())
    assert done.returncode == 0, done.stderr
    rows = await db.fetch("SELECT reason, list_name, source FROM suppression")
    assert [tuple(r) for r in rows] == [("external_list", "TPS", "import")] * 2


async def test_export_streams_csv_that_imports_again(world, settings, db, tmp_path):
    await world.contact("ann@example.com")
    await world.suppress("ann@example.com", "hard_bounce")
    await world.suppress("bob@example.com", "hard_bounce", topic="offers")
    await world.suppress("+442079460958", "manual", channel="phone")
    out = run(settings, "export", "suppressions", "-", "--channel", "email")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode())))
    assert [(r["address"], r["topic"], r["reason"]) for r in rows] == [
        ("ann@example.com", "", "hard_bounce"), ("", "offers", "hard_bounce")]
    assert rows[1]["address_key"] == world.key("email", "bob@example.com")
    assert b"2 rows written" in out.stderr
    keys = await import_again(settings, db, tmp_path, out.stdout, "hard_bounce")
    assert keys == {(world.key("email", "ann@example.com"), ""),
                    (world.key("email", "bob@example.com"), "offers")}


async def test_rejects_file_progress_lines_and_unwritable_outputs(world, settings, db, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes("\ufeffemail\n\nann@example.com\nnot-an-address\n".encode()
                     + b"\xff@example.com\n" + b"bob@example.com\n")
    rejects = tmp_path / "rejects.csv"
    result = run(settings, "import", "suppressions", str(path), "--channel", "email",
                 "--reason", "manual", "--rejects", str(rejects))
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "row 4: 'not-an-address' is not a valid email address" in err
    assert "row 5: is not UTF-8 text (save the file as UTF-8)" in err
    # off a terminal the bar is a plain line per tenth of the file, the last at 100%
    assert "import suppressions" in err and "100% 4 rows: added 2" in err and "\r" not in err
    written = list(csv.reader(rejects.open(encoding="utf-8")))
    assert written[0] == ["row", "reason", "email"] and len(written) == 3
    assert written[1][0] == "4" and written[1][2] == "not-an-address"
    assert written[1][1].startswith("'not-an-address' is not a valid email address")
    assert written[2] == ["5", "is not UTF-8 text (save the file as UTF-8)"]
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 2

    nowhere = str(tmp_path / "missing" / "out.csv")
    for argv in (("export", "suppressions", nowhere), ("export", "contacts", nowhere),
                 ("import", "suppressions", str(path), "--channel", "email", "--reason",
                  "manual", "--rejects", nowhere)):
        refused = run(settings, *argv)
        assert refused.returncode == 2 and f"cannot write {nowhere}" in refused.stderr.decode()


async def test_export_neutralises_formula_cells_like_the_ledger_csv_and_imports_again(
        world, settings, db, tmp_path):
    """CSV injection: a `=cmd` address is written `'=cmd…` by the CLI, as the privacy ledger CSV
    writes its cells (one guard, service/csvfiles.guard_cell); a phone number keeps its `+`;
    the file still imports again to the same suppressions."""
    await world.contact("=cmd@example.com")
    await world.suppress("=cmd@example.com", "manual")
    await world.contact("+442079460958", channel="phone")
    await world.suppress("+442079460958", "manual", channel="phone")
    phones = run(settings, "export", "suppressions", "-", "--channel", "phone")
    assert [r["address"] for r in csv.DictReader(io.StringIO(phones.stdout.decode()))] == [
        "+442079460958"]
    out = run(settings, "export", "suppressions", "-", "--channel", "email")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode())))
    assert [r["address"] for r in rows] == ["'=cmd@example.com"]
    assert guard_cell("=cmd@example.com") == "'=cmd@example.com"
    keys = await import_again(settings, db, tmp_path, out.stdout, "manual")
    assert keys == {(world.key("email", "=cmd@example.com"), "")}
