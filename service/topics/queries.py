"""The topics capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (the API's create, list, read, update, archive) and cache.py (the in-memory
copy the hot paths read).
"""

from __future__ import annotations

COLUMNS = ("key, name, description, channels, legal_basis, transactional, sale_or_sharing,"
           " archived_at, created_at, updated_at, frequencies")
CREATE = ("INSERT INTO topic (key, name, description, channels, legal_basis, transactional,"
          " sale_or_sharing, created_at, updated_at, frequencies)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"
          f" ON CONFLICT (key) DO NOTHING RETURNING {COLUMNS}")
LIST_ALL = f"SELECT {COLUMNS} FROM topic ORDER BY key"
LIST_CURRENT = f"SELECT {COLUMNS} FROM topic WHERE archived_at IS NULL ORDER BY key"
GET = f"SELECT {COLUMNS} FROM topic WHERE key = $1"
ARCHIVE = ("UPDATE topic SET archived_at = COALESCE(archived_at, $2), updated_at = $2"
           f" WHERE key = $1 RETURNING {COLUMNS}")
RESTORE = f"UPDATE topic SET archived_at = NULL, updated_at = $2 WHERE key = $1 RETURNING {COLUMNS}"
# Every topic, for the cache, in creation order.
CACHE_ALL = ("SELECT key, name, description, channels, legal_basis, transactional,"
             " sale_or_sharing, archived_at, frequencies FROM topic ORDER BY id")


def update_sql(columns: list[str]) -> str:
    """Set `columns` of topic $1 to $2, $3… and `updated_at` to the parameter after them,
    returning the topic."""
    sets = [f"{column} = ${i}" for i, column in enumerate([*columns, "updated_at"], 2)]
    return f"UPDATE topic SET {', '.join(sets)} WHERE key = $1 RETURNING {COLUMNS}"
