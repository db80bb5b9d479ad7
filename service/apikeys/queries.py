"""The API keys capability's SQL, by name (listmonk's `queries.sql`, as Python constants)."""

from __future__ import annotations

from service.db.scoped import Scoped

CREATE = Scoped("INSERT INTO api_key (tenant_id, name, prefix, secret_hash, scopes, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
REVOKE = Scoped("UPDATE api_key SET revoked_at = $2"
                " WHERE tenant_id = $1 AND id = $3 AND revoked_at IS NULL")
LIST = Scoped("SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at"
              " FROM api_key WHERE tenant_id = $1 ORDER BY id")
# The live key with this prefix, to compare its hash with the one presented; its tenant is
# what the request acts in (cross-tenant: the tenant is not known before this look-up).
BY_PREFIX = ("SELECT id, tenant_id, name, secret_hash, scopes, last_used_at FROM api_key"
             " WHERE prefix = $1 AND revoked_at IS NULL")
TOUCH = "UPDATE api_key SET last_used_at = $1 WHERE id = $2"  # the id BY_PREFIX just found
