"""Issue 17's figures: recording sends (`POST /v1/sends`) and the checks with frequencies in use.

`record_sends` times a request of 100,000 addresses (the bulk check's addresses), the better of
two after a warm-up one. `add_people` then makes a tenth of the addresses the single and the bulk
check draw those of contacts with preferences on email (a whole-channel row and `offers`), no
pace chosen: the plain check figures are taken on that data. `pace_people` then has those people
choose a weekly frequency for `offers` and a weekly cap of 3 on email, and records two sends of
`offers` to each (two and nine days ago): the checks of those people read their sends and most
are blocked by `frequency`. The paced figures against the plain ones of the same run, on the same
contacts and preferences, show what rule 7 alone costs (the issue: within 10% for the single
check, 20% for the bulk check). Until 2026-12-07 the plain figures were taken before the
contacts existed, which charged rule 7 with the cost of 200,000 more contacts' preferences.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.data import HASH_KEY, address
from bench.measure import BULK, auth
from bench.server import Server
from service.contacts.normalize import AddressKeyer
from service.db.sqlite import sqlite_path

PACED_EVERY = 10  # a tenth of the people checked chose a frequency and a cap


def record_sends(server: Server, key: str, n: int) -> float:
    """Addresses per second of `POST /v1/sends` with 100,000 addresses."""
    step = max(1, (2 * n) // BULK)
    addresses = [address(i) for i in range(0, step * BULK, step)][:BULK]
    body = {"channel": "email", "topic": "offers", "campaign": "bench", "addresses": addresses}
    best = float("inf")
    with httpx.Client(base_url=server.base, headers=auth(key), timeout=300) as client:
        client.post("/v1/sends", json=body).raise_for_status()
        for _ in range(2):
            started = time.perf_counter()
            response = client.post("/v1/sends", json=body)
            best = min(best, time.perf_counter() - started)
            response.raise_for_status()
    assert response.json()["recorded"] == len(addresses), response.text
    return BULK / best


def _paced(n: int):
    """(contact id, address, address key) of the paced people: blocks of `step` addresses,
    every PACED_EVERY-th block, so a tenth of the single check's random draws and a tenth of
    the bulk check's addresses (every step-th one) alike. Every PACED_EVERY-th address would
    have paced all of the bulk's (its step is a multiple of 10)."""
    keyer = AddressKeyer(HASH_KEY)
    step = max(1, (2 * n) // BULK)
    return ((f"paced-{i}", address(i), keyer.key("email", address(i))) for i in range(2 * n)
            if (i // step) % PACED_EVERY == 0)


def _time(value: datetime, as_text: bool) -> datetime | str:
    """A time as each engine's loader takes it (SQLite: the text piccolo's adapter writes)."""
    return str(value) if as_text else value


def _people(n: int, now: datetime, as_text: bool) -> dict[str, list[tuple]]:
    at = _time(now, as_text)
    rows: dict[str, list[tuple]] = {"contact": [], "address": [], "preference": []}
    for cid, given, key in _paced(n):
        rows["contact"].append((cid, False, at, at))
        rows["address"].append((cid, "email", key, given, given, at))
        rows["preference"] += [(cid, "email", "", "none", at, 0),
                               (cid, "email", "offers", "none", at, 0)]
    return rows


def _sends(n: int, now: datetime, as_text: bool) -> list[tuple]:
    times = [_time(now - timedelta(days=d), as_text) for d in (2, 9)]
    return [("email", key, "offers", at, "bench") for _, _, key in _paced(n) for at in times]


COLUMNS = {
    "contact": ("id", "restricted", "created_at", "updated_at"),
    "address": ("contact_id", "channel", "address_key", "normalized", "given", "created_at"),
    "preference": ("contact_id", "channel", "topic", "status", "updated_at", "seq"),
    "send_log": ("channel", "address_key", "topic", "sent_at", "campaign"),
}
# The pace every added person chooses (pace_people): a weekly cap of 3 and `offers` weekly.
PACE = ("UPDATE preference SET max_per_week = 3 WHERE contact_id LIKE 'paced-%' AND topic = ''",
        "UPDATE preference SET frequency = 'weekly'"
        " WHERE contact_id LIKE 'paced-%' AND topic = 'offers'")


def _write(database_url: str, rows: dict[str, list[tuple]], statements: tuple = ()) -> None:
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(database_url), timeout=60)
        with conn:
            for table, records in rows.items():
                columns = COLUMNS[table]
                marks = ", ".join("?" for _ in columns)
                conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                 records)
            for statement in statements:
                conn.execute(statement)
        conn.close()
        return

    async def load() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                for table, records in rows.items():
                    await conn.copy_records_to_table(table, records=records,
                                                     columns=list(COLUMNS[table]))
                for statement in statements:
                    await conn.execute(statement)
            await conn.execute("ANALYZE contact, address, preference, send_log")
        finally:
            await conn.close()

    asyncio.run(load())


def add_people(database_url: str, n: int) -> int:
    """Write the people who will be paced, with no pace yet (see the module); how many."""
    rows = _people(n, datetime.now(UTC), as_text=database_url.startswith("sqlite"))
    _write(database_url, rows)
    return len(rows["contact"])


def pace_people(database_url: str, n: int) -> int:
    """Have the people of `add_people` choose their pace, with their recorded sends; how many."""
    sends = _sends(n, datetime.now(UTC), as_text=database_url.startswith("sqlite"))
    _write(database_url, {"send_log": sends}, PACE)
    return len(sends) // 2
