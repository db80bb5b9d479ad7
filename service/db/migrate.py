"""Running Piccolo's migrations, and telling whether they are all applied."""

from __future__ import annotations

import os
import re
from pathlib import Path

from service.db.engine import Database

# Here, not in piccolo_app (which imports Piccolo's app machinery, ~0.1 s): every command loads this
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

_ID = re.compile(r'^ID = "([^"]+)"', re.MULTILINE)
# Migrations a rolling deploy applies after the rollout (`migrate --upto` the one before,
# deploy, `migrate`: DEPLOY.md), which the code of their release serves without: the contract
# migration T2 (docs/plans/tenants.md §5, D9), which drops what only the previous release
# needs, and the restricted contacts' index (2026-12-10T10:00, PostgreSQL, built CONCURRENTLY;
# without it the checks are slower, not wrong). Readiness (`pending_migrations`) does not wait
# for them, or no new instance would get ready.
AFTER_ROLLOUT_MIGRATIONS = frozenset({"2026-12-09T11:00:00:000000", "2026-12-10T10:00:00:000000"})


def expected_migration_ids() -> set[str]:
    ids = set()
    for path in MIGRATIONS_DIR.glob("*.py"):
        match = _ID.search(path.read_text())
        if match:
            ids.add(match.group(1))
    return ids


async def run_migrations(upto: str | None = None) -> bool:
    """Apply every pending migration to the database of the current settings, or those up to
    and including the migration `upto` (an ID in `migrations/`)."""
    os.environ.setdefault("PICCOLO_CONF", "service.db.piccolo_conf")
    # Piccolo's migration machinery reads PICCOLO_CONF on import: after it is set, and only here
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards(app_name="service", migration_id=upto or "all")
    return bool(result.success)


async def pending_migrations(db: Database) -> set[str]:
    """Migration ids in `migrations/` not yet recorded as applied in this database, but for
    those applied after a rollout (AFTER_ROLLOUT_MIGRATIONS), which the code does not need."""
    expected = expected_migration_ids() - AFTER_ROLLOUT_MIGRATIONS
    try:
        rows = await db.fetch("SELECT name FROM migration WHERE app_name = $1", "service")
    except Exception:  # no migration table yet: nothing applied
        return expected
    return expected - {row[0] for row in rows}
