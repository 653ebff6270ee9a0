"""Prometheus metrics and the JSON access log, recorded by one ASGI middleware.

Per request: ``dm_api_requests_total`` counts by method, route template and status, and
``dm_api_request_duration_seconds`` is the latency histogram by method and route template.
Route templates (``/api/deployment-manager/sites/{site_id}``) keep the label sets bounded.
The access log writes one JSON object per request to the ``api_service.access`` logger,
with the API key's fingerprint and never the key.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

access_log = logging.getLogger("api_service.access")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED_ROUTE = "<unmatched>"


class ApiMetrics:
    """The metrics of one application, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dm_api_requests",
            "HTTP requests completed, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dm_api_request_duration_seconds",
            "Time from receiving a request to sending the end of its response, in seconds.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "dm_api_requests_in_progress", "Requests being served.", registry=self.registry
        )
        self.cache_results = Gauge(
            "dm_api_cache_results",
            "Query results served since start, from the cache (hit) or computed (miss).",
            ["outcome"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)


class JsonLogFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and its ``extra``
    (or, for access log records, their ``fields``)."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields is not None:
            entry.update(fields)
        else:
            entry.update((k, v) for k, v in vars(record).items() if k not in self._standard)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry, enc_hook=str).decode()


def configure_logging(level: str) -> None:
    """Send the ``api_service`` loggers to stderr as JSON lines, once per process."""
    logger = logging.getLogger("api_service")
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonLogFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter())
        logger.addHandler(handler)
        logger.propagate = False


class ObserverMiddleware:
    """Time every request, count it, and write its access log line."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            self.metrics.in_progress.dec()
            record_request(self.metrics, scope, status, time.perf_counter() - started)


def record_request(metrics: ApiMetrics, scope: Scope, status: int, seconds: float) -> None:
    """Count and log one completed request."""
    route = scope.get("path_template") or UNMATCHED_ROUTE
    metrics.observe(scope["method"], route, status, seconds)
    if not access_log.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    fields = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client": client[0] if client else None,
        "api_key_id": scope.get("state", {}).get("api_key_id"),
    }
    # makeRecord and handle skip Logger.info's search of the stack for the caller, which
    # costs more than the rest of the line at thousands of requests per second.
    record = access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "request", (), None, extra={"fields": fields}
    )
    access_log.handle(record)


def metrics_endpoint(metrics: ApiMetrics, store: Any) -> Any:
    """Build the ``GET /metrics`` handler that exposes ``metrics`` in the text format."""

    @get("/metrics", include_in_schema=False, sync_to_thread=False)
    def serve_metrics() -> Response[bytes]:
        metrics.cache_results.labels("hit").set(store.hits)
        metrics.cache_results.labels("miss").set(store.misses)
        return Response(content=generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return serve_metrics
