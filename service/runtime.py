"""What every request handler and background job needs, built once per process."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from litestar.di import NamedDependency

from service.apikeys.guard import acting_key_id
from service.apikeys.logic import ApiKeyCache
from service.consent import chain
from service.contacts.normalize import AddressKeyer
from service.db.engine import Database
from service.db.replicas import RecentWriters
from service.db.tenant_db import TenantDb
from service.security.tokens import TokenSigner
from service.settings import ConfigError, Settings, get_settings, tenant_settings
from service.suppression.lists import ExternalListCache
from service.tenants.model import DEFAULT_SLUG, DEFAULT_TENANT_ID, Tenant
from service.tenants.registry import TenantRegistry, default_tenant
from service.tenants.secrets import secrets_of
from service.topics.cache import TopicCache


@dataclass
class Runtime:
    """One tenant's view of the process's shared parts: `db` puts the tenant in every scoped
    statement; the caches of topics and external lists are the tenant's own."""

    settings: Settings
    db: TenantDb
    keyer: AddressKeyer
    signer: TokenSigner
    api_keys: ApiKeyCache
    topics: TopicCache
    recent_writers: RecentWriters
    external_lists: ExternalListCache  # the national lists' dates, for the checks
    # every tenant of the deployment (shared by all views)
    tenants: TenantRegistry = field(default_factory=TenantRegistry)
    # the tenant this view acts for; the default view's until the tenant table is read
    tenant: Tenant | None = None
    # background tasks started by the lifespan, by name
    tasks: dict[str, Any] = field(default_factory=dict)
    # every tenant's view built so far, by tenant id (shared by all views)
    views: dict[int, Runtime] = field(default_factory=dict)

    @property
    def tenant_id(self) -> int:
        return self.db.tenant_id

    def for_tenant(self, tenant_id: int) -> Runtime:
        """This process's runtime as `tenant_id` sees it (its settings, database view and
        caches), built once and kept; the default tenant's view is the runtime itself."""
        view = self.views.get(tenant_id)
        if view is None:
            base = self.views[DEFAULT_TENANT_ID]
            tenant = self.tenants.get(tenant_id)
            # never the default tenant's provider secrets: its own from TENANT_SECRETS, if any
            overrides = {"org_name": tenant.name, **tenant.settings} if tenant else {}
            settings = tenant_settings(base.settings, overrides, secrets_of(
                base.settings, tenant.slug if tenant else None))
            view = dataclasses.replace(
                base, db=base.db.for_tenant(tenant_id), tenant=tenant, settings=settings,
                signer=_signer(settings, tenant_id),
                topics=TopicCache(), external_lists=ExternalListCache(
                    settings.external_list_max_age_days, settings.external_list_cache_seconds))
            if tenant is not None:  # an id with no row yet (tests' TenantDb(raw, 2)): not kept
                self.views[tenant_id] = view
        return view

    async def load_tenants(self) -> None:
        """Read the tenant table (the app's start, every command)."""
        await self.tenants.load(self.db)
        self._tenant_changed(self.tenants.get(DEFAULT_TENANT_ID) or self.tenant)

    def _tenant_changed(self, tenant: Tenant | None) -> None:
        """A tenant's row changed: its next request builds a fresh view. The default tenant's
        settings are the deployment's own, so its view (the runtime) stays and learns the row."""
        if tenant is None:
            return
        if tenant.id == DEFAULT_TENANT_ID:
            self.views[DEFAULT_TENANT_ID].tenant = tenant
        else:
            self.views.pop(tenant.id, None)

    async def read_fresh(self, request: Any) -> bool:
        """Whether this request's reads must come from the primary (its caller just wrote)."""
        if self.db.replicas is None:
            return False
        return await self.recent_writers.wrote_recently(acting_key_id(request))

    def parse_address(self, channel: str, raw: str) -> tuple[str, str]:
        """(normalized, address key); AddressError when the address cannot be used."""
        return self.keyer.parse(channel, raw, self.settings.default_phone_region)


def _signer(settings: Settings, tenant_id: int) -> TokenSigner:
    """The tenant's link signer: its key ring derived from its `secret_keys` (its own from
    TENANT_SECRETS, else SECRET_KEYS; the default tenant's is SECRET_KEYS itself), its tokens
    prefixed `t{id}~` (service/security/tokens.py)."""
    return TokenSigner(settings.secret_keys, settings.confirm_max_age_days * 86400, tenant_id)


def build_runtime(settings: Settings) -> Runtime:
    chain.use_hash_key(settings.hash_key)  # the ledger's digest key, for every writer
    raw = Database(
        settings.database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        synchronous=settings.sqlite_synchronous,
        pool_min=settings.db_pool_min,
        pool_max=settings.db_pool_max,
        replica_urls=settings.database_replica_urls,
        replica_max_lag=settings.replica_max_lag_seconds,
    )
    db = TenantDb(raw, DEFAULT_TENANT_ID)
    rt = Runtime(
        settings=settings,
        db=db,
        keyer=AddressKeyer(settings.hash_key),
        signer=_signer(settings, DEFAULT_TENANT_ID),
        api_keys=ApiKeyCache(settings.api_key_cache_seconds),
        topics=TopicCache(),
        recent_writers=RecentWriters(settings.read_your_writes_seconds, settings.redis_url),
        external_lists=ExternalListCache(settings.external_list_max_age_days,
                                         settings.external_list_cache_seconds),
        tenants=TenantRegistry(settings.tenant_cache_seconds),
        tenant=default_tenant(settings.org_name),
    )
    rt.views[DEFAULT_TENANT_ID] = rt
    rt.tenants.listeners.append(rt._tenant_changed)
    return rt


T = TypeVar("T")


class UnknownTenant(ConfigError):
    """A command named a tenant slug that has no row (exit code 1, the message on stderr)."""


async def with_runtime(fn: Callable[..., Awaitable[T]], *args: Any,
                       tenant: str = DEFAULT_SLUG) -> T:
    """`await fn(rt, *args)` with the runtime of the current settings as `tenant` (a slug) sees
    it, its database open, closed after even on failure: how every command (`python -m service
    ...`) gets its runtime."""
    rt = build_runtime(get_settings())
    await rt.db.open()
    try:
        await rt.load_tenants()
        found = rt.tenants.by_slug(tenant)
        if found is None:
            raise UnknownTenant(f"error: no tenant with the slug {tenant!r}"
                                " (see `python -m service tenant list`)")
        return await fn(rt.for_tenant(found.id), *args)
    finally:
        await rt.db.close()


# How handlers ask for the runtime: `rt: RT`.
RT = NamedDependency[Runtime]
