"""Prometheus metrics and the JSON access log, recorded by one ASGI middleware.

Per request: ``dm_api_requests_total`` counts by method, route template and status, and
``dm_api_request_duration_seconds`` is the latency histogram by method and route template.
Route templates (``/api/deployment-manager/sites/{site_id}``) keep the label sets bounded.
The access log writes one JSON object per request to the ``api_service.access`` logger,
with the API key's fingerprint and never the key.

A log record costs more than the rest of a cached request, so while the access logger has no
handler of its own, its lines skip the record and go straight to the JSON handler's buffer.
The buffer is written out in blocks, at the latest ``FLUSH_SECONDS`` after its first line, and
before any other record of the handler, so the order of the lines is kept.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

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
# Maximum time an access log line waits in the buffer, and the buffer size that is written at once.
FLUSH_SECONDS = 0.1
FLUSH_BYTES = 64 * 1024


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


class _UtcClock:
    """Format times as ISO 8601 in UTC with milliseconds, the date and time part cached per
    second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._prefix = second, stamp
        return f"{self._prefix}.{int((created - second) * 1000):03d}+00:00"


class JsonLogFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and its ``extra``
    (or, for access log records, their ``fields``)."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def __init__(self) -> None:
        super().__init__()
        self.clock = _UtcClock()
        self.encoder = msgspec.json.Encoder(enc_hook=str)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.clock.format(record.created),
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
        return self.encoder.encode(entry).decode()


class JsonLineHandler(logging.StreamHandler):
    """Write JSON lines to a stream: records at once, access log lines in blocks."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.formatter: JsonLogFormatter = JsonLogFormatter()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._flush_scheduled = False

    def write_access_line(self, fields: dict[str, Any]) -> None:
        """Buffer the access log line of ``fields``, as the formatter would write it."""
        entry = {
            "time": self.formatter.clock.format(time.time()),
            "level": "info",
            "logger": access_log.name,
            "message": "request",
        }
        entry.update(fields)
        line = self.formatter.encoder.encode(entry)
        with self.lock:
            self._pending.append(line)
            self._pending_bytes += len(line) + 1
            if self._pending_bytes < FLUSH_BYTES and (
                self._flush_scheduled or self._schedule_flush()
            ):
                return
        self.flush()

    def _schedule_flush(self) -> bool:
        """Flush in FLUSH_SECONDS on the running event loop; False when there is none."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._flush_scheduled = True
        loop.call_later(FLUSH_SECONDS, self.flush)
        return True

    def _write_pending(self) -> None:
        if self._pending:
            text = b"\n".join(self._pending).decode()
            self._pending.clear()
            self._pending_bytes = 0
            self.stream.write(text + self.terminator)

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:
            self._write_pending()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:
            self._flush_scheduled = False
            if self.stream is not None:
                self._write_pending()
        super().flush()


def configure_logging(level: str) -> None:
    """Send the ``api_service`` loggers to stderr as JSON lines, once per process."""
    logger = logging.getLogger("api_service")
    logger.setLevel(level)
    if not any(isinstance(h, JsonLineHandler) for h in logger.handlers):
        logger.addHandler(JsonLineHandler(sys.stderr))
        logger.propagate = False


def _direct_access_handler() -> JsonLineHandler | None:
    """Return the handler that access log lines may be written to without a record: the
    JSON handler of ``api_service`` when it is the only one that would see them."""
    if access_log.handlers or access_log.filters or access_log.disabled:
        return None
    parent = access_log.parent
    if not access_log.propagate or parent is None or parent.propagate:
        return None
    if len(parent.handlers) != 1 or parent.filters:
        return None
    handler = parent.handlers[0]
    if (
        type(handler) is not JsonLineHandler
        or type(handler.formatter) is not JsonLogFormatter
        or handler.level > logging.INFO
        or handler.filters
    ):
        return None
    return handler


def flush_logs() -> None:
    """Write out the buffered access log lines."""
    for handler in logging.getLogger("api_service").handlers:
        handler.flush()


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
    handler = _direct_access_handler()
    if handler is not None:
        handler.write_access_line(fields)
        return
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
