"""The Litestar application of the REST API.

Serve it with ``deploy-manager serve-api`` or ``uvicorn api_service.app:create_app --factory
--host 127.0.0.1 --port 8000 --no-access-log``; the API writes its own JSON access log. It reads
the ORC files of the warehouse with pyarrow and never starts a JVM. The OpenAPI schema is at
``/api/schema/openapi.json``, the interactive docs at ``/api/schema/swagger`` and
``/api/schema/scalar``, the Prometheus metrics at ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version

import pyarrow as pa
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from api_service.controllers import reject_unknown_query_parameters
from api_service.controllers.alerts import AlertsController
from api_service.controllers.core5g import Core5gController
from api_service.controllers.deployments import DeploymentsController
from api_service.controllers.devices import DevicesController
from api_service.controllers.health import HealthController
from api_service.controllers.overview import DeploymentManagerController
from api_service.controllers.stats import StatsController
from api_service.errors import handle_exception
from api_service.metrics import (
    ApiMetrics,
    ObserverMiddleware,
    configure_logging,
    flush_logs,
    metrics_endpoint,
)
from api_service.queries.common import ALL_TABLES
from api_service.response_cache import ResponseCacheMiddleware
from api_service.security import ApiKeys, RateLimiter, SecurityMiddleware
from api_service.service import KpiService
from api_service.settings import ApiSettings, load_api_settings

log = logging.getLogger(__name__)

API_KEY_SCHEME = "ApiKey"


def _version() -> str:
    try:
        return version("deploy-manager")
    except PackageNotFoundError:
        return "0.0.0"


def _openapi_config(keys: ApiKeys) -> OpenAPIConfig:
    components = Components()
    if keys.enabled:
        components = Components(
            security_schemes={
                API_KEY_SCHEME: SecurityScheme(
                    type="apiKey",
                    name="X-API-Key",
                    security_scheme_in="header",
                    description="One of the keys configured in DM_API_KEYS or DM_API_KEYS_FILE.",
                )
            }
        )
    return OpenAPIConfig(
        title="Deployment Manager API",
        version=_version(),
        description="Deployment and 5G core KPIs per site and day, read from the Hive marts.",
        path="/api/schema",
        use_handler_docstrings=True,
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin()],
        components=components,
    )


def _protected_router(keys: ApiKeys) -> Router:
    """Group the endpoints that need an API key when keys are configured."""
    return Router(
        path="/",
        route_handlers=[
            DeploymentManagerController,
            DeploymentsController,
            DevicesController,
            Core5gController,
            StatsController,
            AlertsController,
        ],
        security=[{API_KEY_SCHEME: []}] if keys.enabled else None,
        before_request=reject_unknown_query_parameters,
    )


def create_app(settings: ApiSettings | None = None) -> Litestar:
    """Build the application for ``settings`` (default: read from the environment)."""
    settings = settings or load_api_settings()
    configure_logging(settings.log_level)
    # The ORC reader allocates a few hundred kilobytes per file it opens. The system
    # allocator returns them to the OS on release_unused() after each read, where mimalloc,
    # pyarrow's default, keeps them.
    pa.set_memory_pool(pa.system_memory_pool())
    service = KpiService(settings)
    metrics = ApiMetrics()
    keys = ApiKeys(settings.api_keys)
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst)

    watcher: list[asyncio.Task] = []

    async def warm_cache() -> None:
        await service.store.snapshots(ALL_TABLES)
        watcher.append(asyncio.create_task(service.store.watch(), name="table-watcher"))
        log.info(
            "serving warehouse %s: API keys %s, rate limit %s",
            settings.warehouse_dir,
            "required" if keys.enabled else "off",
            f"{settings.rate_limit:g}/s" if limiter.enabled else "off",
        )

    async def stop_watching() -> None:
        # Test clients may run the lifespan of one app in more than one event loop: each
        # shutdown stops the watcher that its own loop started.
        loop = asyncio.get_running_loop()
        mine = [task for task in watcher if task.get_loop() is loop]
        for task in mine:
            task.cancel()
        await asyncio.gather(*mine, return_exceptions=True)
        for task in mine:
            watcher.remove(task)

    cors = None
    if settings.cors_origins:
        cors = CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET"],
            allow_headers=["X-API-Key"],
        )
    app = Litestar(
        route_handlers=[
            Router(
                path="/",
                route_handlers=[HealthController],
                before_request=reject_unknown_query_parameters,
            ),
            _protected_router(keys),
            metrics_endpoint(metrics, service.store),
        ],
        dependencies={"service": Provide(lambda: service, sync_to_thread=False, use_cache=True)},
        exception_handlers={Exception: handle_exception},
        openapi_config=_openapi_config(keys),
        cors_config=cors,
        on_startup=[warm_cache],
        on_shutdown=[stop_watching, flush_logs],
    )
    # The observer, the key check and the response cache wrap the whole application rather
    # than each route, so that a kept response is sent without routing, dependency injection
    # or Litestar's per-request state. Requests that match no route are counted as well.
    app.asgi_handler = ObserverMiddleware(
        SecurityMiddleware(
            ResponseCacheMiddleware(app.asgi_handler, max_entries=settings.cache_entries),
            keys=keys,
            limiter=limiter,
        ),
        metrics=metrics,
    )
    app.state.service = service
    app.state.metrics = metrics
    return app
