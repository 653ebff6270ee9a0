"""Errors of the API and the one place where every exception becomes an HTTP response.

Every error body is ``{"status_code": ..., "detail": ..., "extra": ...}``: ``detail`` names
the rejected value and the valid values. Unexpected exceptions are logged with their
traceback, and the client gets a 500 whose body names only an error id, never the traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.types import Send

from api_service.params import PARAMETER_RULES

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error whose message can be shown to the client as it is."""

    status_code = 500

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class InvalidParameterError(ApiError):
    status_code = 400


class SiteNotFoundError(ApiError):
    status_code = 404

    def __init__(self, site_id: str) -> None:
        super().__init__(
            f"site {site_id!r} not found: no table of the warehouse has a partition for it; "
            "check the site id, or materialize the site's partitions first"
        )
        self.site_id = site_id


class MissingApiKeyError(ApiError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__(
            "missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
        )


class InvalidApiKeyError(ApiError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__(
            "invalid API key in the X-API-Key header: use one of the keys configured in "
            "DM_API_KEYS or DM_API_KEYS_FILE",
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
        )


class RateLimitedError(ApiError):
    status_code = 429

    def __init__(self, limit: float, burst: int, retry_after: int) -> None:
        super().__init__(
            f"rate limit exceeded: {limit:g} requests per second (bursts of {burst}) per API "
            f"key; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def error_body(status_code: int, detail: str, extra: list[dict[str, Any]] | None = None) -> dict:
    body: dict[str, Any] = {"status_code": status_code, "detail": detail}
    if extra:
        body["extra"] = extra
    return body


async def send_error(send: Send, error: ApiError) -> None:
    """Send ``error`` as a complete JSON response over raw ASGI, for middleware."""
    body = msgspec.json.encode(error_body(error.status_code, error.detail))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_response(error: ApiError) -> Response:
    return Response(
        content=error_body(error.status_code, error.detail),
        status_code=error.status_code,
        media_type=MediaType.JSON,
        headers=error.headers,
    )


def _rejected_value(request: Request, key: str, source: str | None) -> Any:
    if source == "path":
        return request.path_params.get(key)
    if source == "header":
        return request.headers.get(key)
    values = request.query_params.getall(key, [])
    return values[0] if len(values) == 1 else values or None


def _validation_details(request: Request, exc: ValidationException) -> tuple[str, list[dict]]:
    """Return a message naming each rejected parameter and value, and the items behind it."""
    items = exc.extra if isinstance(exc.extra, list) else []
    messages, extra = [], []
    for item in items:
        if not isinstance(item, dict) or "key" not in item:
            continue
        key, source = str(item["key"]), item.get("source")
        value = _rejected_value(request, key, source)
        rule = PARAMETER_RULES.get(key, str(item.get("message", "invalid value")))
        problem = "is missing" if value is None else f"{value!r} is invalid"
        messages.append(f"{key} {problem}: {rule}")
        extra.append({"key": key, "source": source, "value": value, "message": rule})
    if not messages:
        return f"invalid request to {request.method} {request.url.path}: {exc.detail}", []
    return "; ".join(messages), extra


def handle_exception(request: Request, exc: Exception) -> Response:
    """Turn any exception raised while serving ``request`` into a JSON error response."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, ValidationException):
        detail, extra = _validation_details(request, exc)
        return Response(
            content=error_body(400, detail, extra), status_code=400, media_type=MediaType.JSON
        )
    if isinstance(exc, NotFoundException) and "path_template" not in request.scope:
        detail = f"no endpoint at {request.url.path!r}: the endpoints are listed at /api/schema"
        return Response(content=error_body(404, detail), status_code=404)
    if isinstance(exc, MethodNotAllowedException):
        detail = f"method {request.method} is not allowed on {request.url.path!r}: {exc.detail}"
        return Response(content=error_body(405, detail), status_code=405, headers=exc.headers)
    if isinstance(exc, HTTPException):
        return Response(
            content=error_body(exc.status_code, exc.detail),
            status_code=exc.status_code,
            headers=exc.headers,
        )
    error_id = uuid.uuid4().hex[:12]
    log.exception("error %s serving %s %s", error_id, request.method, request.url.path)
    detail = f"internal error {error_id}: the server log has the details under this id"
    return Response(content=error_body(500, detail), status_code=500)
