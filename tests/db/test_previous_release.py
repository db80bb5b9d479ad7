"""A database made by the previous release keeps working after the tenants migrations (issue
18, "Done when": the default tenant's pre-migration links, keys and feed cursors still work).

The previous release is git commit PREVIOUS_RELEASE, the last commit before tenants. It runs as
itself: its tree is extracted with `git archive`, and its own `python -m service migrate`,
`api-key create`, `ledger checkpoint` and `serve` run as real processes, with that tree as cwd
and on PYTHONPATH, in the same virtualenv. Three phases follow, on one database:

1. The old release fills it through its HTTP API. It creates a topic, a contact with an
   opt-in and a suppression. It reads a page of the change feed (a cursor), registers an
   outgoing webhook subscription at the end of the feed, and makes one recipient's links. Then
   it writes a ledger checkpoint.
2. This tree's `migrate --upto` T1 runs, the first step of a rolling deploy. The old server
   runs on the expanded schema: its check answers the same, it adds a suppression, and its feed
   continues from the cursor.
3. This tree's full `migrate` (T2) runs, then its `ledger verify` and its server. The old ledger
   and checkpoint verify. The old keys authenticate with the same scopes. The check answers the
   same bytes. New links are the old ones byte for byte. The old page token opens the
   preference page. The old one-click link unsubscribes (an RFC 8058 POST), and the check then
   blocks. The old cursor and the subscription continue with exactly the changes after them.
   Every old row is in the default tenant (1).

Both engines: a temporary SQLite file, and a PostgreSQL database of the test's own (dropped).
Each server runs in a process group of its own and is stopped in `finally`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ENGINES, ROOT, run_async, scratch_pg_database
from tests.reliability.procs import Service
from tests.scaleout.cluster import service_env
from tests.unsubscribe.helpers import GMAIL_HEADERS, ONE_CLICK_BODY
from tests.webhooks.test_outgoing import Receiver

pytestmark = pytest.mark.slow

PREVIOUS_RELEASE = "44bf714"  # the last commit before tenants (docs/plans/tenants.md)
ANN, CARL, DORA = "ann@example.com", "carl@example.com", "dora@example.com"
ERIN = "erin@example.com"  # never given to the service
T1 = "2026-12-09T10:00:00:000000"  # the expand half of tenants: a rolling deploy's first step
CHECK = "/v1/suppressions/check"
# tables the old release wrote rows into here, each of them now the default tenant's
OLD_ROWS = ("contact", "address", "topic", "preference", "consent_event", "suppression",
            "change_feed", "api_key", "webhook_subscription")


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory) -> Path:
    """The previous release's tree, extracted from this repository's history."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: cannot extract the previous release")
    found = subprocess.run([git, "-C", str(ROOT), "cat-file", "-e",
                            f"{PREVIOUS_RELEASE}^{{commit}}"], capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {PREVIOUS_RELEASE} is not available: not a git checkout, or a "
                    "shallow clone (`git fetch --unshallow` to run this test)")
    root = tmp_path_factory.mktemp("previous-release")
    archive = root / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run([git, "-C", str(ROOT), "archive", PREVIOUS_RELEASE], stdout=out,
                       check=True, timeout=120)
    with tarfile.open(archive) as tar:  # this repository's own history: a trusted archive
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(root / "tree", filter="data")
        else:
            tar.extractall(root / "tree")  # noqa: S202
    archive.unlink()
    return root / "tree"


def cli(root: Path, env: dict[str, str], *args: str) -> str:
    """`python -m service ARGS` of the tree at `root`; its stdout."""
    result = subprocess.run([sys.executable, "-m", "service", *args], cwd=root, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"{root}: {args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else {}


def allowed(http: httpx.Client, headers: dict, address: str) -> bool:
    return ok(http.get(CHECK, headers=headers, params={
        "channel": "email", "address": address, "topic": "news"}))["allowed"]


def follow(http: httpx.Client, headers: dict, cursor: str | None) -> tuple[list[dict], str]:
    """Every feed entry after `cursor` until caught up; (entries, the cursor to go on)."""
    entries = []
    while True:
        page = ok(http.get("/v1/suppressions", headers=headers,
                           params={} if cursor is None else {"cursor": cursor}))
        entries += page["entries"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return entries, cursor


def token_path(url: str) -> str:
    return urlsplit(url).path


def unused(keys: list[dict]) -> list[dict]:
    """The key listing without `last_used_at`, which each use may move on."""
    return [{k: v for k, v in key.items() if k != "last_used_at"} for key in keys]


def probes(http: httpx.Client, keys: dict[str, dict]) -> dict[str, int]:
    """The status each key gets from an operation of each scope: what its scopes allow."""
    found = {}
    for name, headers in keys.items():
        found[f"{name} check"] = http.get(CHECK, headers=headers, params={
            "channel": "email", "address": DORA}).status_code
        found[f"{name} contacts"] = http.get("/v1/contacts", headers=headers,
                                             params={"external_ref": "crm-ann"}).status_code
        found[f"{name} api-keys"] = http.get("/v1/api-keys", headers=headers).status_code
    return found


def the_old_release_makes_its_database(old_tree: Path, env: dict[str, str], log: Path,
                                       receiver: Receiver) -> dict:
    """Phase 1: the previous release, through its CLI and HTTP API; what a client kept."""
    cli(old_tree, env, "migrate")
    kept: dict = {"keys": {
        "admin": bearer(cli(old_tree, env, "api-key", "create", "--name", "old-admin",
                            "--scopes", "admin").strip().splitlines()[-1]),
        "reader": bearer(cli(old_tree, env, "api-key", "create", "--name", "old-reader",
                             "--scopes", "suppressions:read").strip().splitlines()[-1])}}
    admin = kept["keys"]["admin"]
    old = Service(env, log, root=old_tree, own_group=True)
    try:
        old.start()
        with httpx.Client(base_url=old.base, timeout=30) as http:
            ok(http.post("/v1/topics", headers=admin, json={
                "key": "news", "name": "News", "channels": ["email"],
                "legal_basis": "consent"}), 201)
            contact = ok(http.post("/v1/contacts", headers=admin, json={
                "external_ref": "crm-ann", "addresses": [{"channel": "email",
                                                          "address": ANN}]}), 201)
            kept["contact_id"] = contact["id"]
            ok(http.put(f"/v1/contacts/{contact['id']}/preferences", headers=admin, json={
                "preferences": [{"channel": "email", "topic": "news",
                                 "status": "opted_in"}]}))
            assert allowed(http, admin, ANN) is True
            ok(http.post("/v1/suppressions", headers=admin, json={
                "channel": "email", "reason": "manual", "addresses": [CARL]}))
            kept["fed"], kept["cursor"] = follow(http, kept["keys"]["reader"], None)
            assert [e["reason"] for e in kept["fed"]] == ["manual"]
            kept["subscription"] = ok(http.post("/v1/webhook-subscriptions", headers=admin,
                                                json={"url": receiver.url}), 201)
            kept["links"] = ok(http.post("/v1/links", headers=admin, json={"recipients": [
                {"channel": "email", "address": ANN, "topic": "news"}]}))["links"][0]
            kept["page"] = http.get(token_path(kept["links"]["preferences_url"])).status_code
            kept["api_keys"] = ok(http.get("/v1/api-keys", headers=admin))
            kept["probes"] = probes(http, kept["keys"])
            kept["answers"] = answers(http, admin)
    finally:
        old.stop()
    assert kept["page"] == 200
    assert cli(old_tree, env, "ledger", "checkpoint").startswith("wrote ")
    return kept


def answers(http: httpx.Client, headers: dict) -> list[bytes]:
    """The check's answers, as bytes, for a known, a suppressed and an unknown address."""
    return [ok_bytes(http.get(CHECK, headers=headers, params=params)) for params in (
        {"channel": "email", "address": ANN, "topic": "news"},
        {"channel": "email", "address": CARL},
        {"channel": "email", "address": ERIN, "topic": "news"})]


def ok_bytes(response: httpx.Response) -> bytes:
    assert response.status_code == 200, response.text
    return response.content


def the_old_release_runs_on_the_expanded_schema(old_tree: Path, env: dict[str, str], log: Path,
                                                kept: dict) -> None:
    """Phase 2, a rolling deploy's window: with only T1 applied, the previous release still
    checks, writes and reads its feed (its rows land in the default tenant)."""
    admin, reader = kept["keys"]["admin"], kept["keys"]["reader"]
    old = Service(env, log, root=old_tree, own_group=True)
    try:
        old.start()
        with httpx.Client(base_url=old.base, timeout=30) as http:
            assert answers(http, admin) == kept["answers"]
            added = ok(http.post("/v1/suppressions", headers=admin, json={
                "channel": "email", "reason": "manual", "addresses": [DORA]}))
            assert added["added"] == 1, added
            assert ok(http.get(CHECK, headers=admin, params={
                "channel": "email", "address": DORA}))["allowed"] is False
            entries, _ = follow(http, reader, kept["cursor"])
            assert [(e["reason"], e["topic"]) for e in entries] == [("manual", None)]
            kept["window"] = entries
    finally:
        old.stop()


def rows_by_tenant(database_url: str) -> dict[str, set[int]]:
    from service.db.engine import Database

    async def read() -> dict[str, set[int]]:
        db = Database(database_url)
        await db.open()
        try:
            return {table: {r[0] for r in await db.fetch(
                f"SELECT DISTINCT tenant_id FROM {table}")} for table in OLD_ROWS}  # noqa: S608
        finally:
            await db.close()

    return run_async(read())


def wait_for(predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds  # a bound on background delivery, not a speed test
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_previous_releases_keys_links_and_cursors_work_after_migrating(
        engine, old_tree, tmp_path):
    receiver = Receiver()
    receiver.start()
    try:
        if engine == "sqlite":
            run_both_releases(f"sqlite:///{tmp_path / 'service.db'}", old_tree, tmp_path,
                              receiver)
        else:
            with scratch_pg_database("prevrel") as url:
                run_both_releases(url, old_tree, tmp_path, receiver)
    finally:
        receiver.stop()


def run_both_releases(database_url: str, old_tree: Path, tmp_path: Path,
                      receiver: Receiver) -> None:
    common = dict(DATA_DIR=str(tmp_path), RATE_LIMIT_PAGES_PER_MINUTE="0",
                  PUBLIC_BASE_URL="https://prefs.example.com")
    old_env = service_env(database_url, PYTHONPATH=str(old_tree), **common)
    new_env = service_env(database_url, PYTHONPATH=str(ROOT), **common)
    kept = the_old_release_makes_its_database(old_tree, old_env, tmp_path / "old.log", receiver)
    keys, admin = kept["keys"], kept["keys"]["admin"]

    cli(ROOT, new_env, "migrate", "--upto", T1)
    the_old_release_runs_on_the_expanded_schema(old_tree, old_env, tmp_path / "old.log", kept)
    cli(ROOT, new_env, "migrate")
    assert rows_by_tenant(database_url) == {table: {1} for table in OLD_ROWS}

    # the old ledger's chains and its checkpoint verify with this release (decision D7)
    verified = cli(ROOT, new_env, "ledger", "verify")
    assert "matches" in verified, verified

    new = Service(new_env, tmp_path / "new.log", own_group=True)
    try:
        new.start()
        with httpx.Client(base_url=new.base, timeout=30) as http:
            # the old keys: the same keys, and each may do what it could before
            assert unused(ok(http.get("/v1/api-keys", headers=admin))) == unused(kept["api_keys"])
            assert probes(http, keys) == kept["probes"]
            # the check answers the same bytes for the same addresses
            assert answers(http, admin) == kept["answers"]

            # links made now are the old ones byte for byte (default tokens have no prefix)
            again = ok(http.post("/v1/links", headers=admin, json={"recipients": [
                {"channel": "email", "address": ANN, "topic": "news"}]}))["links"][0]
            assert again == kept["links"]

            # the old page token opens the preference page; the old link's page too
            page = http.get(token_path(kept["links"]["preferences_url"]))
            assert page.status_code == 200 and "News" in page.text, page.text[:500]
            assert http.get(token_path(kept["links"]["unsubscribe_url"])).status_code == 200

            # the old one-click link unsubscribes; the check then blocks
            assert allowed(http, admin, ANN) is True
            done = http.post(token_path(kept["links"]["unsubscribe_url"]),
                             content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
            assert done.status_code == 200, done.text
            assert allowed(http, admin, ANN) is False

            # the old cursor continues the feed: the old release's entry of the rolling window,
            # then the one-click's, and nothing before them
            after, cursor = follow(http, keys["reader"], kept["cursor"])
            assert after[0] == kept["window"][0]
            assert [(e["reason"], e["topic"]) for e in after] == [
                ("manual", None), ("unsubscribed", "news")]
            assert after[0]["seq"] > max(e["seq"] for e in kept["fed"])
            assert follow(http, keys["reader"], cursor)[0] == []

            # the subscription made at the old end of the feed gets exactly the changes after
            # it: the one-click's preference change and its suppression, once each
            sub = kept["subscription"]
            wait_for(lambda: any(c["value"] == "unsubscribed" for c in receiver.acknowledged()))
            changes = receiver.acknowledged()
            assert [(c["kind"], c["value"], c["topic"]) for c in changes] == [
                ("suppression", "manual", None), ("preference", "opted_out", "news"),
                ("suppression", "unsubscribed", "news")], changes
            seqs = [c["seq"] for c in changes]
            assert seqs == sorted(set(seqs)) and min(seqs) == sub["last_seq"] + 1, changes
            assert {e["seq"] for e in after} <= set(seqs)
            listed = ok(http.get("/v1/webhook-subscriptions", headers=admin))
            [mine] = [s for s in listed if s["id"] == sub["id"]]
            assert mine["url"] == sub["url"] and mine["active"] is True
    finally:
        new.stop()
