"""A running import and the live service's writes at once (issue 13): the import writes in
short transactions, so one-clicks posted while it runs are answered while it still runs, and
both complete with nothing lost. And a file of nothing but bad rows writes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from service.security.tokens import TokenData
from tests.conftest import ROOT, cli_env
from tests.unsubscribe.helpers import GMAIL_HEADERS, ONE_CLICK_BODY, add_contact

ROWS = 60_000
PEOPLE = 5


def start_import(settings, path, *, wait: bool = False):
    """`python -m service import suppressions` of `path`, running (or finished, with `wait`)."""
    argv = [sys.executable, "-m", "service", "import", "suppressions", str(path), "--channel",
            "email", "--reason", "unsubscribed"]
    if wait:
        return subprocess.run(argv, cwd=ROOT, env=cli_env(settings), capture_output=True,
                              timeout=120)
    return subprocess.Popen(argv, cwd=ROOT, env=cli_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


async def count(db, where: str) -> int:
    return await db.fetchval(f"SELECT COUNT(*) FROM suppression WHERE {where}")


async def test_one_clicks_are_answered_while_an_import_runs(client, db, rt, settings, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("email\n" + "".join(f"bulk{i}@example.com\n" for i in range(ROWS)))
    people = [await add_contact(db, rt, "email", f"person{i}@example.com")
              for i in range(PEOPLE)]
    proc = start_import(settings, path)
    try:
        deadline = time.monotonic() + 120
        while await count(db, "source = 'import'") == 0:  # its first batches are in
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the import wrote nothing for 120 s"
            await asyncio.sleep(0.02)
        answered_while_running = 0
        for contact_id, _ in people:
            token = rt.signer.sign("unsubscribe", TokenData(contact_id, "email", "*", "spring"))
            response = await client.post(f"/u/{token}", content=ONE_CLICK_BODY,
                                         headers=GMAIL_HEADERS)
            assert response.status_code == 200, response.text
            answered_while_running += proc.poll() is None
        still_importing = await count(db, "source = 'import'")
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert proc.returncode == 0, err.decode()
    # every one-click was answered before the import ended, not queued behind it
    assert answered_while_running == PEOPLE and still_importing < ROWS
    assert f"added {ROWS:,}, already 0, rejected 0" in err.decode()
    assert await count(db, "source = 'import'") == ROWS
    keys = [key for _, key in people]
    for key in keys:
        assert await count(db, f"source = 'one_click' AND address_key = '{key}'") == 1
    events = await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE action = 'opt_out'"
                               " AND source = 'one_click'")
    assert events == PEOPLE
    feed = await db.fetchval("SELECT COUNT(*) FROM change_feed WHERE kind = 'suppression'")
    assert feed == ROWS + PEOPLE


async def test_a_file_of_only_bad_rows_writes_nothing_and_says_why(db, settings, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("email\nnot-an-address\n@example.com\nann@@example.com\n")
    result = start_import(settings, path, wait=True)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    for line, value in ((2, "not-an-address"), (3, "@example.com"), (4, "ann@@example.com")):
        assert f"row {line}: '{value}' is not a valid email address" in err, err
    assert "3 rows: added 0, already 0, rejected 3" in err
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM change_feed") == 0
