"""Running Piccolo's migrations, and telling whether they are all applied."""

from __future__ import annotations

import os
import re
from pathlib import Path

from service.db.engine import Database

# Here, not in piccolo_app (which imports Piccolo's app machinery, ~0.1 s): every command loads this
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

_ID = re.compile(r'^ID = "([^"]+)"', re.MULTILINE)


def expected_migration_ids() -> set[str]:
    ids = set()
    for path in MIGRATIONS_DIR.glob("*.py"):
        match = _ID.search(path.read_text())
        if match:
            ids.add(match.group(1))
    return ids


async def run_migrations() -> bool:
    """Apply every pending migration to the database of the current settings."""
    os.environ.setdefault("PICCOLO_CONF", "service.db.piccolo_conf")
    # Piccolo's migration machinery reads PICCOLO_CONF on import: after it is set, and only here
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards(app_name="service")
    return bool(result.success)


async def pending_migrations(db: Database) -> set[str]:
    """Migration ids in `migrations/` not yet recorded as applied in this database."""
    try:
        rows = await db.fetch("SELECT name FROM migration WHERE app_name = $1", "service")
    except Exception:  # no migration table yet: nothing applied
        return expected_migration_ids()
    return expected_migration_ids() - {row[0] for row in rows}
