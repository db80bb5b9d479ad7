"""The API keys capability's SQL, by name (listmonk's `queries.sql`, as Python constants)."""

from __future__ import annotations

CREATE = ("INSERT INTO api_key (name, prefix, secret_hash, scopes, created_at)"
          " VALUES ($1, $2, $3, $4, $5) RETURNING id")
REVOKE = "UPDATE api_key SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
LIST = ("SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at"
        " FROM api_key ORDER BY id")
# The live key with this prefix, to compare its hash with the one presented.
BY_PREFIX = ("SELECT id, name, secret_hash, scopes, last_used_at FROM api_key"
             " WHERE prefix = $1 AND revoked_at IS NULL")
TOUCH = "UPDATE api_key SET last_used_at = $1 WHERE id = $2"
