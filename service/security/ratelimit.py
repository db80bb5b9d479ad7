"""Litestar's rate-limit middleware with a fixed-window counter, keyed straight from the scope.

Litestar's own `RateLimitMiddleware` keeps a list of every request's timestamp per client and
re-encodes it on each request: O(limit) work per request, which at API limits of thousands per
second costs more than the request itself; it also builds a Request and parses its headers to
find the client. This subclass keeps Litestar's configuration, store and headers but counts (an
in-process dict, or INCR in Redis when the store is Litestar's RedisStore, shared by every
instance) and identifies clients from the raw ASGI scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import time
from typing import Any

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import DURATION_VALUES, RateLimitConfig, RateLimitMiddleware
from litestar.types import Receive, Scope, Send

from service.apikeys.guard import bearer_token


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def api_key_or_ip(scope: Scope) -> str:
    """Per API key (its public prefix), else per client address."""
    parts = bearer_token(scope).split("_")
    return "key:" + parts[1] if len(parts) >= 3 else "ip:" + client_ip(scope)


@dataclass
class ScopeRateLimitConfig(RateLimitConfig):
    """Which paths count (by prefix) and who the client is, both read from the scope."""

    include_prefixes: tuple[str, ...] = ()  # empty: every path not excluded
    exclude_prefixes: tuple[str, ...] = ()
    scope_identifier: Callable[[Scope], str] = field(default=client_ip)
    # key -> (window end, count), shared by the middleware instances Litestar builds for every
    # route handler: one budget per client across all routes, not one per route
    counts: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)


async def count_request(store: Any, counts: dict[str, tuple[int, int]], key: str,
                        window_end: int, window: int) -> int:
    """This request's number in `key`'s current window: INCR in Redis when `store` is
    Litestar's RedisStore (shared by every instance), else the in-process `counts`."""
    redis = getattr(store, "_redis", None)
    if redis is not None:
        name = f"ratelimit:{key}:{window_end}"
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window + 1)
            count, _ = await pipe.execute()
        return int(count)
    end, count = counts.get(key, (0, 0))
    if end != window_end:
        if len(counts) > 100_000:  # forget finished windows (in place: shared)
            for old in [k for k, v in counts.items() if v[0] < window_end]:
                del counts[old]
        end, count = window_end, 0
    count += 1
    counts[key] = (end, count)
    return count


def too_many(limit: int, window_end: int, now: int, what: str = "requests") -> \
        TooManyRequestsException:
    return TooManyRequestsException(
        detail=f"Too many {what}; retry after the time in Retry-After.",
        headers={"Retry-After": str(max(1, window_end - now)), "RateLimit-Limit": str(limit),
                 "RateLimit-Remaining": "0", "RateLimit-Reset": str(window_end - now)})


class TenantRateLimit:
    """A tenant's own budget of /v1 requests a minute, every key of it together (its setting
    `rate_limit_api_per_minute`, docs/plans/tenants.md §3.7): one tenant's traffic cannot use
    up what the deployment serves the others. Counted after authentication (only then is the
    tenant known), in the API limit's store under `tenant:{id}`, on top of each key's
    RATE_LIMIT_API_PER_MINUTE. The default tenant has its keys' limit only, as before tenants."""

    def __init__(self, store: str = "rate_limit_api"):
        self.store = store
        self.counts: dict[str, tuple[int, int]] = {}  # per app: tests build many

    async def check(self, scope: Scope, tenant: Any) -> None:
        limit = tenant.settings.get("rate_limit_api_per_minute") if tenant else None
        if not limit:
            return
        now = int(time())
        window_end = now - now % 60 + 60
        store = scope["litestar_app"].stores.get(self.store)
        if await count_request(store, self.counts, f"tenant:{tenant.id}", window_end, 60) \
                > limit:
            raise too_many(limit, window_end, now, "requests for this tenant")


class CountingRateLimitMiddleware(RateLimitMiddleware):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counts = self.config.counts  # type: ignore[attr-defined]

    async def _increment(self, store: Any, key: str, window_end: int, window: int) -> int:
        return await count_request(store, self._counts, key, window_end, window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config: ScopeRateLimitConfig = self.config  # type: ignore[assignment]
        path = scope["path"]
        if (config.include_prefixes and not path.startswith(config.include_prefixes)) or (
                config.exclude_prefixes and path.startswith(config.exclude_prefixes)):
            await self.app(scope, receive, send)
            return
        window = DURATION_VALUES[self.unit]
        now = int(time())
        window_end = now - now % window + window
        store = self.config.get_store_from_app(scope["litestar_app"])
        count = await self._increment(store, config.scope_identifier(scope), window_end, window)
        if count > self.max_requests:
            raise TooManyRequestsException(
                detail="Too many requests; retry after the time in Retry-After.",
                headers={
                    "Retry-After": str(max(1, window_end - now)),
                    self.config.rate_limit_limit_header_key: str(self.max_requests),
                    self.config.rate_limit_remaining_header_key: "0",
                    self.config.rate_limit_reset_header_key: str(window_end - now),
                },
            )
        await self.app(scope, receive, send)
