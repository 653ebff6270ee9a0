"""API keys and rate limiting, as one ASGI middleware in front of every route.

When keys are configured every path except the exempt ones (health, the OpenAPI schema and
its docs pages) needs a valid ``X-API-Key`` header. Keys are compared in constant time. Each
key, or each client address when no keys are configured, gets a token bucket of
``rate_burst`` requests refilled at ``rate_limit`` per second.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterable

from litestar.types import ASGIApp, Receive, Scope, Send

from api_service.errors import (
    ApiError,
    InvalidApiKeyError,
    MissingApiKeyError,
    RateLimitedError,
    send_error,
)

API_KEY_HEADER = b"x-api-key"
EXEMPT_PREFIXES = ("/api/health", "/api/schema")
# Buckets idle this long are full again, so they are dropped to bound the memory.
BUCKET_IDLE_SECONDS = 600.0


def key_id(key: str) -> str:
    """Return a short fingerprint of an API key, safe to log."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class ApiKeys:
    """The configured API keys, matched in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [key.encode() for key in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def match(self, presented: bytes) -> bool:
        """Return whether ``presented`` is a configured key.

        Every key is compared, so the time taken does not tell which key came close.
        """
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(key, presented)
        return found


class RateLimiter:
    """Token buckets per client: ``burst`` requests at once, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._swept_at = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str) -> float:
        """Take one token for ``client``; return 0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        tokens, updated = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
        if now - self._swept_at > BUCKET_IDLE_SECONDS:
            self._sweep(now)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _sweep(self, now: float) -> None:
        self._buckets = {
            client: state
            for client, state in self._buckets.items()
            if now - state[1] < BUCKET_IDLE_SECONDS
        }
        self._swept_at = now


class SecurityMiddleware:
    """Reject requests without a valid API key (401) or over their rate limit (429)."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, limiter: RateLimiter) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            client = self._client_of(scope)
        except ApiError as error:
            await send_error(send, error)
            return
        if self.limiter.enabled:
            wait = self.limiter.take(client)
            if wait:
                error = RateLimitedError(self.limiter.rate, self.limiter.burst, math.ceil(wait))
                await send_error(send, error)
                return
        await self.app(scope, receive, send)

    def _client_of(self, scope: Scope) -> str:
        """Return the rate-limit identity of the request: its key's id, else its address.

        The key's id is stored in the scope state so that the access log can name it.
        """
        if not self.keys.enabled:
            address = scope.get("client")
            return address[0] if address else "unknown"
        presented = next((v for k, v in scope["headers"] if k == API_KEY_HEADER), None)
        if presented is None:
            raise MissingApiKeyError()
        if not self.keys.match(presented):
            raise InvalidApiKeyError()
        identity = key_id(presented.decode("latin-1"))
        scope.setdefault("state", {})["api_key_id"] = identity
        return identity
