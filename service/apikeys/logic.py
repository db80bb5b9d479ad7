"""API keys: created with a secret shown once, stored as a SHA-256 hash, checked in constant time.

A key reads `psk_<prefix>_<secret>`; the prefix finds the row, the hash of the whole key is
compared with `hmac.compare_digest`. Verified keys are cached in-process for
API_KEY_CACHE_SECONDS, so the hot check path pays no extra query; revoking through this process
takes effect at once, through another process within that many seconds. `last_used_at` is
written at most once a minute per key, not on every request.

Every key belongs to one tenant (issue 18): it is created, listed and revoked within it, and
every request it makes acts in it; an `operator` key acts in the tenant it names (guard.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.apikeys import queries as q
from service.db.tenant_db import TenantDb
from service.tenants.model import DEFAULT_TENANT_ID

SCOPES = (
    "contacts:read",
    "contacts:write",
    "suppressions:read",
    "suppressions:write",
    "links:write",
    "admin",
    "operator",  # the deployment's operator: manages tenants, acts as admin in the one it names
)
OPERATOR = "operator"
LAST_USED_GRANULARITY = timedelta(minutes=1)


class ScopeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    name: str
    scopes: frozenset[str]
    tenant_id: int = DEFAULT_TENANT_ID  # the tenant the key belongs to

    @property
    def is_operator(self) -> bool:
        return OPERATOR in self.scopes

    def allows(self, scope: str | None) -> bool:
        """`admin` grants every scope of its tenant but `operator`, which nothing else grants;
        an operator acts as admin (inside the tenant it names: the guard checks that)."""
        if scope == OPERATOR:
            return OPERATOR in self.scopes
        return (scope is None or "admin" in self.scopes or scope in self.scopes
                or OPERATOR in self.scopes)


def parse_scopes(text: str) -> list[str]:
    scopes = [s for s in text.replace(",", " ").split() if s]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ScopeError(
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}; use {', '.join(SCOPES)}"
        )
    return scopes


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_api_key(db: TenantDb, name: str, scopes: list[str]) -> tuple[int, str]:
    """Store a new key of `db`'s tenant and return (id, the full secret key); the secret is
    not kept."""
    prefix = secrets.token_hex(6)
    raw = f"psk_{prefix}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        key_id = await tx.fetchval(q.CREATE, name, prefix, _hash(raw), " ".join(scopes), now)
    return key_id, raw


async def revoke_api_key(db: TenantDb, key_id: int, cache: ApiKeyCache | None = None) -> bool:
    async with db.transaction() as tx:
        changed = await tx.execute(q.REVOKE, datetime.now(UTC), key_id)
    if cache is not None:
        cache.clear()
    return changed > 0


async def list_api_keys(db: TenantDb) -> list[dict]:
    rows = await db.fetch(q.LIST)
    return [
        {
            "id": r["id"], "name": r["name"], "prefix": r["prefix"],
            "scopes": r["scopes"].split(), "created_at": r["created_at"],
            "last_used_at": r["last_used_at"], "revoked_at": r["revoked_at"],
        }
        for r in rows
    ]


class ApiKeyCache:
    """Verified keys by their full hash, for a few seconds."""

    def __init__(self, ttl_seconds: float):
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, ApiKeyInfo | None]] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def verify(self, db: TenantDb, raw: str) -> ApiKeyInfo | None:
        digest = _hash(raw)
        entry = self._entries.get(digest)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return entry[1]
        info = await _load(db, raw, digest)
        if len(self._entries) > 10_000:  # wrong keys must not grow memory without bound
            self._entries.clear()
        self._entries[digest] = (now + self.ttl, info)
        return info


async def _load(db: TenantDb, raw: str, digest: str) -> ApiKeyInfo | None:
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "psk":
        return None
    row = await db.fetchrow(q.BY_PREFIX, parts[1])
    if row is None or not hmac.compare_digest(row["secret_hash"], digest):
        return None
    now = datetime.now(UTC)
    last = row["last_used_at"]
    if last is None or now - last > LAST_USED_GRANULARITY:
        await db.execute(q.TOUCH, now, row["id"])
    return ApiKeyInfo(row["id"], row["name"], frozenset(row["scopes"].split()), row["tenant_id"])
