"""National do-not-call lists as dated snapshots: `import suppressions --snapshot --as-of`
replaces one list (and only it), `GET /v1/external-lists` shows each list's date, and a list
past its maximum age blocks marketing checks on its channel. Real command line, both engines."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from service.ops.counters import STALE_LIST_CHECKS
from service.suppression.lists import ExternalListCache
from tests.conftest import make_settings
from tests.suppression.test_import_export import run

TODAY = datetime.now(UTC).date()
OLD = "2020-01-01"  # long past every list's maximum age
A, B, C, D, E = (f"+44 20 7946 09{n:02d}" for n in (10, 11, 12, 13, 14))


@pytest.fixture
def settings(database_url, tmp_path):
    """The app re-reads the lists' dates on every check (production: every few seconds), so
    an import by the command line shows at once."""
    return make_settings(database_url, tmp_path, external_list_cache_seconds=0)


def snapshot(settings, tmp_path, name: str, channel: str, as_of: str, *numbers: str,
             extra: tuple[str, ...] = ()):
    path = tmp_path / f"{name}-{as_of}.csv"
    path.write_text("phone\n" + "".join(f"{n}\n" for n in numbers))
    return run(settings, "import", "suppressions", str(path), "--channel", channel,
               "--reason", "external_list", "--list-name", name, "--snapshot",
               "--as-of", as_of, *extra)


async def rows(db) -> set[tuple[str, str, str | None]]:
    return {(r[0], r[1], r[2]) for r in await db.fetch(
        "SELECT address_key, reason, list_name FROM suppression")}


async def test_snapshot_lifts_only_the_numbers_that_left_that_list(world, settings, db,
                                                                   tmp_path, reader):
    key = lambda number: world.key("phone", number)  # noqa: E731
    await world.suppress(A, "manual", channel="phone")
    first = snapshot(settings, tmp_path, "tps", "phone", "2026-11-01", A, B, C)
    assert first.returncode == 0, first.stderr
    other = snapshot(settings, tmp_path, "CTPS", "phone", "2026-11-02", D)
    assert other.returncode == 0, other.stderr
    again = snapshot(settings, tmp_path, "TPS", "phone", "2026-11-30", B, E, B)
    err = again.stderr.decode()
    assert again.returncode == 0, err
    assert "added 1, already 2" in err and "lifted 2 no longer listed; list size 2" in err
    assert await rows(db) == {
        (key(A), "manual", None),  # a manual suppression outlives the number leaving TPS
        (key(B), "external_list", "TPS"),
        (key(D), "external_list", "CTPS"),  # another list is never touched
        (key(E), "external_list", "TPS"),
    }
    lifted = await db.fetch("SELECT address_key, value, source FROM change_feed"
                            " WHERE op = 'removed' ORDER BY seq")
    assert sorted((r[0], r[1], r[2]) for r in lifted) == sorted(
        [(key(A), "external_list", "import"), (key(C), "external_list", "import")])
    assert await db.fetchval("SELECT COUNT(*) FROM external_list_key") == 0

    listed = await world.client.get("/v1/external-lists", headers=reader)
    assert listed.status_code == 200, listed.text
    assert listed.json() == [
        {"name": "CTPS", "channel": "phone", "as_of": "2026-11-02", "size": 1,
         "max_age_days": 28},
        {"name": "TPS", "channel": "phone", "as_of": "2026-11-30", "size": 2,
         "max_age_days": 28},
    ]


async def test_without_snapshot_an_import_only_adds(world, settings, db, tmp_path):
    assert snapshot(settings, tmp_path, "TPS", "phone", str(TODAY), A, B).returncode == 0
    path = tmp_path / "more.csv"
    path.write_text(f"{C}\n")
    more = run(settings, "import", "suppressions", str(path), "--channel", "phone",
               "--reason", "external_list", "--list-name", "TPS")
    assert more.returncode == 0, more.stderr
    assert len(await rows(db)) == 3
    assert await db.fetchval("SELECT size FROM external_list WHERE name = 'TPS'") == 2


async def test_snapshot_usage_errors_and_an_empty_file(world, settings, db, tmp_path):
    path = tmp_path / "tps.csv"
    path.write_text(f"{A}\n")
    base = ("import", "suppressions", str(path), "--channel", "phone")
    cases = {
        ("--reason", "external_list", "--list-name", "TPS", "--snapshot"): b"--as-of",
        ("--reason", "manual", "--snapshot", "--as-of", "2026-11-30"): b"--reason external_list",
        ("--reason", "external_list", "--list-name", "TPS", "--snapshot", "--as-of",
         "30/11/2026"): b"is not a date",
        ("--reason", "external_list", "--list-name", "TPS", "--snapshot", "--as-of",
         str(TODAY + timedelta(days=2))): b"past or today's",
        ("--reason", "external_list", "--list-name", "TPS", "--snapshot", "--as-of",
         "2026-11-30", "--dry-run"): b"--dry-run",
        ("--reason", "external_list", "--list-name", "TPS", "--as-of", "2026-11-30"):
            b"with --snapshot only",
    }
    for args, message in cases.items():
        result = run(settings, *base, *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    contacts = run(settings, "import", "contacts", str(path), "--channel", "phone",
                   "--snapshot")
    assert contacts.returncode == 2 and b"suppressions only" in contacts.stderr
    assert snapshot(settings, tmp_path, "TPS", "phone", "2026-11-01", A).returncode == 0
    empty = snapshot(settings, tmp_path, "TPS", "phone", "2026-11-30", "not a number")
    assert empty.returncode == 1 and b"nothing lifted" in empty.stderr
    assert len(await rows(db)) == 1  # an unusable file never empties the list
    assert await db.fetchval("SELECT as_of FROM external_list") == "2026-11-01"


async def make_marketing_and_transactional_phone_topics(world) -> None:
    response = await world.client.post("/v1/topics", headers=world.admin, json={
        "key": "calls", "name": "Service calls", "channels": ["phone"],
        "legal_basis": "legitimate_interest", "transactional": True})
    assert response.status_code == 201, response.text


async def check(world, headers, channel: str, address: str, topic: str | None = None) -> dict:
    params = {"channel": channel, "address": address, **({"topic": topic} if topic else {})}
    response = await world.client.get("/v1/suppressions/check", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


class Kept(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings():
    kept, logger = Kept(), logging.getLogger("service.suppression")
    logger.addHandler(kept)
    yield kept.records
    logger.removeHandler(kept)


async def test_a_stale_list_blocks_marketing_on_its_channel_in_every_check(
        world, settings, tmp_path, reader, warnings):
    await make_marketing_and_transactional_phone_topics(world)
    assert snapshot(settings, tmp_path, "TPS", "phone", OLD, A).returncode == 0
    before = STALE_LIST_CHECKS.labels("TPS", "block")._value.get()

    single = await check(world, reader, "phone", B, "offers")
    assert single["allowed"] is False and single["reasons"] == ["external_list_stale"]
    whole = await check(world, reader, "phone", B)
    assert whole["reasons"] == ["external_list_stale"]
    listed = await check(world, reader, "phone", A)
    assert listed["reasons"] == ["external_list", "external_list_stale"]
    assert (await check(world, reader, "phone", B, "calls"))["allowed"] is True
    assert (await check(world, reader, "email", "ann@example.com"))["allowed"] is True

    bulk = await world.client.post("/v1/suppressions/check", headers=reader, json={
        "channel": "phone", "topic": "offers", "addresses": [A, B, "nonsense"]})
    assert bulk.status_code == 200, bulk.text
    assert bulk.json()["blocked"] == [
        {"address": A, "reasons": ["external_list", "external_list_stale"]},
        {"address": B, "reasons": ["external_list_stale"]}]
    transactional = await world.client.post("/v1/suppressions/check", headers=reader, json={
        "channel": "phone", "topic": "calls", "addresses": [B]})
    assert transactional.json()["blocked"] == []

    streamed = await world.client.post(
        "/v1/suppressions/check", params={"channel": "phone", "all": "true"},
        headers={**reader, "content-type": "text/plain"}, content=f"{B}\n".encode())
    assert streamed.status_code == 200, streamed.text
    line = streamed.text.splitlines()[0]
    assert '"allowed":false' in line and '"reasons":["external_list_stale"]' in line

    assert STALE_LIST_CHECKS.labels("TPS", "block")._value.get() - before == 7
    said = [r.getMessage() for r in warnings]
    assert len(said) == 1 and "TPS" in said[0]  # once a minute, not once per check

    fresh = snapshot(settings, tmp_path, "TPS", "phone", str(TODAY), A)
    assert fresh.returncode == 0, fresh.stderr
    assert (await check(world, reader, "phone", B, "offers"))["allowed"] is True
    assert (await check(world, reader, "phone", A))["reasons"] == ["external_list"]


async def test_list_ages_are_settable_and_warn_mode_only_warns(world, settings, rt, tmp_path,
                                                               reader):
    yesterday = str(TODAY - timedelta(days=2))
    assert snapshot(settings, tmp_path, "TPS", "phone", yesterday, A).returncode == 0
    assert (await check(world, reader, "phone", B))["allowed"] is True  # 2 days of 28
    rt.external_lists.max_ages["TPS"] = 1
    assert (await check(world, reader, "phone", B))["reasons"] == ["external_list_stale"]
    rt.settings.external_list_stale = "warn"
    before = STALE_LIST_CHECKS.labels("TPS", "warn")._value.get()
    answer = await check(world, reader, "phone", B)
    assert answer["allowed"] is True and answer["reasons"] == []
    assert STALE_LIST_CHECKS.labels("TPS", "warn")._value.get() - before == 1


def test_the_max_age_setting_merges_over_the_defaults(database_url, tmp_path):
    settings = make_settings(database_url, tmp_path,
                             external_list_max_age_days={"tps": 14, "Own": 7})
    assert settings.external_list_max_age_days == {
        "TPS": 14, "CTPS": 28, "FPS": 28, "MPS": 30, "DNC": 31, "OWN": 7}
    with pytest.raises(ValueError, match="at least 1 day"):
        make_settings(database_url, tmp_path, external_list_max_age_days={"TPS": 0})


async def test_the_checks_read_list_dates_from_memory_not_per_check(db):
    cache = ExternalListCache({"TPS": 28}, ttl_seconds=60)
    assert await cache.deadlines(db, "phone") == ()
    await db.execute("INSERT INTO external_list (name, channel, as_of, size, imported_at)"
                     " VALUES ('TPS', 'phone', '2026-11-30', 5, $1)", datetime.now(UTC))
    assert await cache.deadlines(db, "phone") == ()  # within the ttl: no query
    cache.invalidate()
    assert await cache.deadlines(db, "phone") == (("TPS", date(2026, 12, 28)),)
