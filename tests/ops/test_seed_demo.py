"""`python -m service seed-demo` fills an empty database with a working demo, and can re-run."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.conftest import ROOT


def seed(database_url: str, tmp_path) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path),
           "SECRET_KEYS": "test-secret-key-0123456789", "HASH_KEY": "test-hash-key-0123456789",
           "PUBLIC_BASE_URL": "https://prefs.example.com"}
    result = subprocess.run([sys.executable, "-m", "service", "seed-demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_seed_demo_twice_gives_topics_contacts_and_working_links(
        database_url, tmp_path, client, db):
    first = seed(database_url, tmp_path)
    second = seed(database_url, tmp_path)
    assert "topic newsletter: created" in first and "topic newsletter: already there" in second
    assert await db.fetchval("SELECT COUNT(*) FROM topic") == 6
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 2
    link = next(line for line in second.splitlines() if "/p/" in line).split()[-1]
    page = await client.get(httpx.URL(link).path)
    assert page.status_code == 200 and "Newsletter" in page.text
