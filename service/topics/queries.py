"""The topics capability's SQL, by name (listmonk's `queries.sql`, as Python constants).

Read by logic.py (the API's create, list, read, update, archive) and cache.py (the in-memory
copy the hot paths read, one per tenant's view). Every statement is a tenant's (`Scoped`: `$1`
is the tenant id, service/db/scoped.py).
"""

from __future__ import annotations

from service.db.scoped import Scoped

COLUMNS = ("key, name, description, channels, legal_basis, transactional, sale_or_sharing,"
           " archived_at, created_at, updated_at, frequencies")
CREATE = Scoped("INSERT INTO topic (tenant_id, key, name, description, channels, legal_basis,"
                " transactional, sale_or_sharing, created_at, updated_at, frequencies)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)"
                f" ON CONFLICT (tenant_id, key) DO NOTHING RETURNING {COLUMNS}")
LIST_ALL = Scoped(f"SELECT {COLUMNS} FROM topic WHERE tenant_id = $1 ORDER BY key")
LIST_CURRENT = Scoped(f"SELECT {COLUMNS} FROM topic WHERE tenant_id = $1"
                      " AND archived_at IS NULL ORDER BY key")
GET = Scoped(f"SELECT {COLUMNS} FROM topic WHERE tenant_id = $1 AND key = $2")
ARCHIVE = Scoped("UPDATE topic SET archived_at = COALESCE(archived_at, $3), updated_at = $3"
                 f" WHERE tenant_id = $1 AND key = $2 RETURNING {COLUMNS}")
RESTORE = Scoped("UPDATE topic SET archived_at = NULL, updated_at = $3"
                 f" WHERE tenant_id = $1 AND key = $2 RETURNING {COLUMNS}")
# Every topic of the tenant, for its cache, in creation order.
CACHE_ALL = Scoped("SELECT key, name, description, channels, legal_basis, transactional,"
                   " sale_or_sharing, archived_at, frequencies FROM topic WHERE tenant_id = $1"
                   " ORDER BY id")


def update_sql(columns: list[str]) -> Scoped:
    """Set `columns` of topic $2 to $3, $4… and `updated_at` to the parameter after them,
    returning the topic."""
    sets = [f"{column} = ${i}" for i, column in enumerate([*columns, "updated_at"], 3)]
    return Scoped(f"UPDATE topic SET {', '.join(sets)} WHERE tenant_id = $1 AND key = $2"
                  f" RETURNING {COLUMNS}")
