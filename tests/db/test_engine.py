"""The connection layer: concurrent writers, group commit, durability before return."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from service.db.engine import Database


@pytest.fixture
async def database(database_url):
    db = Database(database_url, synchronous="FULL")
    await db.open()
    yield db
    await db.close()


async def insert_topic(db: Database, key: str, fail: bool = False) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO topic (key, name, description, channels, legal_basis, transactional,"
            " created_at, updated_at) VALUES ($1, $1, '', '[]', 'consent', $2, $3, $3)",
            key, False, now)
        if fail:
            raise RuntimeError("this request fails after writing")


async def test_concurrent_writers_each_commit_or_roll_back_alone(database, database_url):
    results = await asyncio.gather(
        *(insert_topic(database, f"t{i}", fail=(i % 10 == 3)) for i in range(100)),
        return_exceptions=True)
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 10 and all(isinstance(r, RuntimeError) for r in failed)
    # a separate connection sees exactly the 90 that succeeded: committed before they returned
    observer = Database(database_url)
    await observer.open()
    try:
        keys = {row[0] for row in await observer.fetch("SELECT key FROM topic")}
    finally:
        await observer.close()
    assert keys == {f"t{i}" for i in range(100) if i % 10 != 3}


async def test_a_write_is_visible_to_other_connections_when_the_call_returns(database,
                                                                             database_url):
    observer = Database(database_url)
    await observer.open()
    try:
        for i in range(20):
            await insert_topic(database, f"seen{i}")
            assert await observer.fetchval("SELECT COUNT(*) FROM topic WHERE key = $1",
                                           f"seen{i}") == 1
    finally:
        await observer.close()


async def test_unique_violation_in_one_writer_leaves_the_batch_intact(database):
    await insert_topic(database, "dup")
    results = await asyncio.gather(insert_topic(database, "dup"), insert_topic(database, "ok1"),
                                   insert_topic(database, "ok2"), return_exceptions=True)
    assert isinstance(results[0], Exception) and results[1] is None and results[2] is None
    keys = {row[0] for row in await database.fetch("SELECT key FROM topic")}
    assert keys == {"dup", "ok1", "ok2"}


async def test_postgres_connections_compile_no_statement_even_after_a_release(database):
    """Every pooled PostgreSQL connection has JIT off (service/db/tx.py: compiling a bulk
    chunk's statement cost more than running it), also once asyncpg's reset on release (RESET
    ALL) has run; a transaction's connection too. SQLite has no JIT."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    for _ in range(3):  # the same connection, released and acquired again
        assert await database.fetchval("SHOW jit") == "off"
        async with database.transaction() as tx:
            assert await tx.fetchval("SHOW jit") == "off"
    async with database.pool.acquire() as first, database.pool.acquire() as second:
        assert [await c.fetchval("SHOW jit") for c in (first, second)] == ["off", "off"]
