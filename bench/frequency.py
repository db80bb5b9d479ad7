"""Issue 17's figures: recording sends (`POST /v1/sends`) and the checks with frequencies in use.

`record_sends` times a request of 100,000 addresses (the bulk check's addresses), the better of
two after a warm-up one. `pace_people` then makes a tenth of the addresses the single and the bulk
check draw from a contact who chose a weekly frequency for `offers` and a weekly cap
of 3 on email, with two recorded sends of `offers` (two and nine days ago): the checks of those
people read their sends and most are blocked by `frequency`. The check figures measured after
it, against the plain ones of the same run, show what rule 7 costs (the issue: within 10% for
the single check, 20% for the bulk check).
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


def _rows(n: int, now: datetime, as_text: bool) -> dict[str, list[tuple]]:
    keyer = AddressKeyer(HASH_KEY)
    when = (lambda t: str(t)) if as_text else (lambda t: t)
    rows: dict[str, list[tuple]] = {"contact": [], "address": [], "preference": [],
                                    "send_log": []}
    # Blocks of `step` addresses, every PACED_EVERY-th block: a tenth of the single check's
    # random draws and a tenth of the bulk check's addresses (every step-th one) alike. Every
    # PACED_EVERY-th address would have paced all of the bulk's (its step is a multiple of 10).
    step = max(1, (2 * n) // BULK)
    for i in (i for i in range(2 * n) if (i // step) % PACED_EVERY == 0):
        cid, key = f"paced-{i}", keyer.key("email", address(i))
        rows["contact"].append((cid, False, when(now), when(now)))
        rows["address"].append((cid, "email", key, address(i), address(i), when(now)))
        rows["preference"] += [(cid, "email", "", "none", when(now), 0, None, 3),
                               (cid, "email", "offers", "none", when(now), 0, "weekly", None)]
        rows["send_log"] += [("email", key, "offers", when(now - timedelta(days=d)), "bench")
                             for d in (2, 9)]
    return rows


COLUMNS = {
    "contact": ("id", "restricted", "created_at", "updated_at"),
    "address": ("contact_id", "channel", "address_key", "normalized", "given", "created_at"),
    "preference": ("contact_id", "channel", "topic", "status", "updated_at", "seq",
                   "frequency", "max_per_week"),
    "send_log": ("channel", "address_key", "topic", "sent_at", "campaign"),
}


def pace_people(database_url: str, n: int) -> int:
    """Write the paced people (see the module); returns how many."""
    now = datetime.now(UTC)
    if database_url.startswith("sqlite"):
        rows = _rows(n, now, as_text=True)
        conn = sqlite3.connect(sqlite_path(database_url), timeout=60)
        with conn:
            for table, columns in COLUMNS.items():
                marks = ", ".join("?" for _ in columns)
                conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                 rows[table])
        conn.close()
    else:
        rows = _rows(n, now, as_text=False)

        async def load() -> None:
            conn = await asyncpg.connect(database_url)
            try:
                async with conn.transaction():
                    for table, columns in COLUMNS.items():
                        await conn.copy_records_to_table(table, records=rows[table],
                                                         columns=list(columns))
                await conn.execute("ANALYZE contact, address, preference, send_log")
            finally:
                await conn.close()

        asyncio.run(load())
    return len(rows["contact"])
