"""The application factory: `service.app:create_app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.stores.memory import MemoryStore
from litestar.template.config import TemplateConfig
from litestar.types import Scope

from service import background
from service.apikeys.guard import ApiKeyMiddleware
from service.capabilities import routes
from service.errors import ERROR_RESPONSES, EXCEPTION_HANDLERS, refuse_nul
from service.openapi import StrictModelsSchemaPlugin, fix_allow_headers
from service.ops import bench_routes
from service.ops import routes as ops_routes
from service.ops.metrics import MetricsMiddleware, metrics
from service.ops.static import brand_css, static_router
from service.runtime import Runtime, build_runtime
from service.security.headers import SecurityHeadersMiddleware
from service.security.links import EXCEPTION_HANDLERS as LINK_ERRORS
from service.security.ratelimit import (
    CountingRateLimitMiddleware,
    ScopeRateLimitConfig,
    TenantRateLimit,
    api_key_or_ip,
)
from service.settings import Settings, get_settings, log_level
from service.tenants.resolve import HostTenantMiddleware, request_runtime

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
log = logging.getLogger("service")


def _stores(settings: Settings) -> dict:
    """Rate-limit counters in Redis when REDIS_URL is set (shared by every instance)."""
    if settings.redis_url:
        from litestar.stores.redis import RedisStore  # needs the redis client: only when used

        return {name: RedisStore.with_client(url=settings.redis_url, namespace=name)
                for name in ("rate_limit_api", "rate_limit_pages")}
    return {"rate_limit_api": MemoryStore(), "rate_limit_pages": MemoryStore()}


def _no_template_reload(engine: JinjaTemplateEngine) -> None:
    """Templates change with the code, on a restart: no stat() of the file on every page."""
    engine.engine.auto_reload = False


def provide_rt(scope: Scope) -> Runtime:
    """The runtime as the request's tenant sees it (service/tenants/resolve.py): a dict
    look-up of a view built once per tenant. It asks for the ASGI scope, not the request: a
    Request built for the provider alone cost a request ~10%."""
    return request_runtime(scope)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    rt = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Errors opening the database surface here and stop the start.
        await rt.db.open()
        try:
            await rt.load_tenants()
        except Exception as exc:  # a database not migrated yet: read again on first use
            log.warning("tenants not read at start (%s); read when first asked for", exc)
        app.state.rt = rt
        if settings.run_workers_in_web:
            background.start(rt)
        try:
            yield
        finally:
            await background.stop(rt)
            await rt.db.close()

    # every capability's handlers, from the registry the CLI reads too (service.capabilities)
    api_handlers = routes("api_routes")
    page_handlers = routes("page_routes")
    if settings.bench_routes:
        api_handlers.extend(bench_routes.route_handlers)
    for handler in api_handlers:  # the error answers every /v1 operation may give, documented
        handler.responses = {**ERROR_RESPONSES, **(handler.responses or {})}
    api = Router(path="/v1", route_handlers=api_handlers,
                 middleware=[ApiKeyMiddleware(TenantRateLimit())], security=[{"bearer": []}],
                 before_request=refuse_nul)
    # recipient pages: one without a token acts in the tenant of its Host (tenants/resolve.py)
    pages = Router(path="/", route_handlers=[brand_css, *page_handlers],
                   middleware=[HostTenantMiddleware()])

    middleware = [SecurityHeadersMiddleware(), MetricsMiddleware()]
    stores = _stores(settings)
    if settings.rate_limit_api_per_minute:
        middleware.append(ScopeRateLimitConfig(
            rate_limit=("minute", settings.rate_limit_api_per_minute), include_prefixes=("/v1/",),
            scope_identifier=api_key_or_ip, store="rate_limit_api",
            middleware_class=CountingRateLimitMiddleware,
        ).middleware)
    if settings.rate_limit_pages_per_minute:
        middleware.append(ScopeRateLimitConfig(
            rate_limit=("minute", settings.rate_limit_pages_per_minute),
            exclude_prefixes=("/v1/", "/healthz", "/readyz", "/metrics", "/schema", "/static",
                              "/brand.css"),
            store="rate_limit_pages", middleware_class=CountingRateLimitMiddleware,
            # RFC 8058 one-click POSTs come from a few mailbox-provider IPs (Gmail, Yahoo)
            exclude_opt_key="exclude_from_page_rate_limit",
        ).middleware)


    # Litestar configures the root logger at INFO by default; LOG_LEVEL decides instead.
    level = log_level()
    logging_config = LoggingConfig(
        root={"handlers": ["queue_listener"], "level": level},
        loggers={"litestar": {"level": level, "handlers": ["queue_listener"],
                              "propagate": False}})

    app = Litestar(
        logging_config=logging_config,
        route_handlers=[*ops_routes.route_handlers, metrics, static_router, api, pages],
        lifespan=[lifespan],
        dependencies={"rt": Provide(provide_rt, sync_to_thread=False)},
        exception_handlers={**EXCEPTION_HANDLERS, **LINK_ERRORS},
        middleware=middleware,
        stores=stores,
        csrf_config=CSRFConfig(
            secret=settings.secret_keys[-1], cookie_name="csrftoken", cookie_secure=
            settings.public_base_url.startswith("https"), cookie_samesite="strict",
            exclude=[r"^/v1/", r"^/healthz", r"^/readyz", r"^/metrics", r"^/schema"],
        ),
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine,
                                       engine_callback=_no_template_reload),
        plugins=[StrictModelsSchemaPlugin()],
        openapi_config=OpenAPIConfig(
            title="Preference and unsubscribe service",
            version="1",
            path="/schema",
            description="Consent, preferences, one-click unsubscribe and the suppression API.",
            components=Components(security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description=(
                    "An API key: psk_<prefix>_<secret>; it acts in its tenant. An operator key"
                    " names the tenant it acts in with X-Tenant: <slug> (not on /v1/tenants).")),
            }),
        ),
        request_max_body_size=settings.max_body_bytes,
    )
    app.state.rt = rt
    fix_allow_headers(app)
    return app
