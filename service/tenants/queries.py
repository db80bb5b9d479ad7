"""The tenants capability's SQL, by name. `tenant` is a global table (the operator's list of
tenants, read before any tenant is known), so none of these is `Scoped`."""

from __future__ import annotations

_COLUMNS = "id, slug, name, controller_group, settings, domains, created_at, updated_at"

ALL = f"SELECT {_COLUMNS} FROM tenant ORDER BY id"
BY_SLUG = f"SELECT {_COLUMNS} FROM tenant WHERE slug = $1"
# None when the slug is taken: the caller answers 409 (both engines, no exception to catch)
CREATE = ("INSERT INTO tenant (slug, name, controller_group, settings, domains, created_at,"
          " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
          f" ON CONFLICT (slug) DO NOTHING RETURNING {_COLUMNS}")
UPDATE = ("UPDATE tenant SET name = $2, controller_group = $3, settings = $4, domains = $5,"
          f" updated_at = $6 WHERE slug = $1 RETURNING {_COLUMNS}")
# PostgreSQL: tenant writes one at a time (the host names' uniqueness is checked in the
# writing transaction; SQLite's single writer does the same). 7201558 is the feed's lock,
# 7201559 retention's.
LOCK_TENANT_WRITES = "SELECT pg_advisory_xact_lock(7201560)"
