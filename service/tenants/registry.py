"""The tenants of this deployment, in memory: by id, slug and host name.

Loaded when the app starts, then again when a look-up misses (a tenant created by
`python -m service tenant create` in another process is found on its first use) and when the
copy is older than TENANT_CACHE_SECONDS (a change made elsewhere reaches this process). The
request path pays one dict look-up; the table is small (one row per organisation).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from service.settings import TenantSettings
from service.tenants import queries as q
from service.tenants.model import DEFAULT_SLUG, DEFAULT_TENANT_ID, Tenant

log = logging.getLogger("service.tenants")
# A Host header is anyone's to send: a miss reloads at most this often.
HOST_MISS_RELOAD_SECONDS = 5.0


def split_domains(text: str) -> tuple[str, ...]:
    return tuple(d for d in text.replace(",", " ").split() if d)


def tenant_from_row(row: Any) -> Tenant:
    settings = row["settings"] or "{}"
    if isinstance(settings, str):
        settings = json.loads(settings)
    # a setting a later release no longer allows is ignored rather than failing the load
    known = {k: v for k, v in settings.items() if k in TenantSettings.model_fields}
    return Tenant(id=row["id"], slug=row["slug"], name=row["name"],
                  controller_group=row["controller_group"], settings=known,
                  domains=split_domains(row["domains"] or ""))


class TenantRegistry:
    def __init__(self, max_age_seconds: float = 30.0):
        self.max_age = max_age_seconds
        self._by_id: dict[int, Tenant] = {}
        self._by_slug: dict[str, Tenant] = {}
        self._by_host: dict[str, Tenant] = {}
        self._expires = 0.0
        self._host_reloaded = 0.0
        # called with each tenant whose record changed on a reload (Runtime drops its view)
        self.listeners: list[Callable[[Tenant], None]] = []

    def get(self, tenant_id: int) -> Tenant | None:
        return self._by_id.get(tenant_id)

    def by_slug(self, slug: str) -> Tenant | None:
        return self._by_slug.get(slug)

    def by_host(self, host: str) -> Tenant | None:
        return self._by_host.get(host_name(host))

    def all(self) -> list[Tenant]:
        return sorted(self._by_id.values(), key=lambda t: t.id)

    @property
    def loaded(self) -> bool:
        return bool(self._by_id)

    async def load(self, db: Any) -> None:
        """Read every tenant (`db`: any view; these statements are global)."""
        tenants = [tenant_from_row(r) for r in await db.fetch(q.ALL)]
        self._replace(tenants)
        self._expires = time.monotonic() + self.max_age

    async def current(self, db: Any) -> list[Tenant]:
        """Every tenant, from a copy at most `max_age` old: what the background loops go over
        at each pass, so a tenant created by another process joins them within that age."""
        if time.monotonic() >= self._expires:
            await self.load(db)
        return self.all()

    async def find(self, db: Any, *, slug: str | None = None,
                   tenant_id: int | None = None) -> Tenant | None:
        """The tenant with this slug (or id), from a copy at most `max_age` old, reloading
        once on a miss."""
        stale = time.monotonic() >= self._expires
        if stale:
            await self.load(db)
        found = self._by_slug.get(slug) if slug is not None else self._by_id.get(tenant_id)
        if found is None and not stale:
            await self.load(db)
            found = self._by_slug.get(slug) if slug is not None else self._by_id.get(tenant_id)
        return found

    async def find_host(self, db: Any, host: str) -> Tenant | None:
        """The tenant that serves this host name (a `Host` header: any case, with or without
        its port), from a copy at most `max_age` old; a miss reloads at most every
        HOST_MISS_RELOAD_SECONDS, since anyone may send any Host (and a single-tenant
        deployment's own host is always a miss)."""
        now = time.monotonic()
        if now >= self._expires:
            self._expires = now + self.max_age  # one reload, however many requests wait on it
            self._host_reloaded = now
            await self.load(db)
        found = self.by_host(host)
        if found is None and now - self._host_reloaded >= HOST_MISS_RELOAD_SECONDS:
            self._host_reloaded = now
            await self.load(db)
            found = self.by_host(host)
        return found

    def put(self, tenant: Tenant) -> None:
        """A tenant this process just created or changed."""
        others = [t for t in self._by_id.values() if t.id != tenant.id]
        self._replace([*others, tenant])

    def _replace(self, tenants: list[Tenant]) -> None:
        old = self._by_id
        self._by_id = {t.id: t for t in tenants}
        self._by_slug = {t.slug: t for t in tenants}
        self._by_host = {d: t for t in tenants for d in t.domains}
        for tenant in tenants:
            before = old.get(tenant.id)
            if before is not None and before != tenant:
                for listener in self.listeners:
                    listener(tenant)


def host_name(host: str) -> str:
    """A `Host` header as the name a tenant lists: lower case, without the port or the final
    dot of a fully qualified name (`Prefs.B.example.:8443` -> `prefs.b.example`)."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal, `[::1]:8000`: no tenant's name, kept whole
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")


def default_tenant(org_name: str) -> Tenant:
    """Tenant 1 as it stands before the table is read (a process's first moments)."""
    return Tenant(id=DEFAULT_TENANT_ID, slug=DEFAULT_SLUG, name=org_name)
