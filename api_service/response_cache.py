"""Serve a repeated GET from the bytes of its earlier response while its tables are unchanged.

The query results are cached already (``TableStore.cached``), but each request would still
pay for parameter parsing, dependency injection and JSON encoding. This middleware keys the
encoded 200 responses on the path and the raw query string. It sends a kept response again
while every table the response was computed from has the same version and is not due for a
check. A response that shows when the tables were last checked (health) also expires at the
next check. A response counts as cacheable only when the request read its tables through
``KpiService.run``, ``KpiService.require_site`` or ``KpiService.health``, which record them in
``TABLES_READ``.

The middleware sits behind the API key check and the rate limit, so it only serves requests
that are allowed, and in front of the router. A kept response carries the route template of
its first request, for the metrics and the access log. Requests with an ``Origin`` header are
neither served from nor kept in the cache, because the CORS headers depend on the origin.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api_service.tables import WarehouseTable

# The tables that the request being served read, with their versions and, for a response that
# shows the time of the last check, their check counts. None outside of a request.
TABLES_READ: contextvars.ContextVar[list[tuple[WarehouseTable, int, int | None]] | None] = (
    contextvars.ContextVar("tables_read", default=None)
)


def record_tables_read(
    tables: list[tuple[WarehouseTable, int]], *, shows_check_time: bool = False
) -> None:
    """Note the tables a response is computed from, when a response cache is listening.

    With ``shows_check_time`` the response stays current only until the next check of any of
    the tables' folders, whether they changed or not.
    """
    listening = TABLES_READ.get()
    if listening is not None:
        listening.extend(
            (table, version, table.check_count if shows_check_time else None)
            for table, version in tables
        )


ORIGIN_HEADER = b"origin"


class _Entry:
    __slots__ = ("body", "route", "start", "tables")

    def __init__(self, start: Message, body: Message, tables: tuple, route: str | None) -> None:
        self.start = start
        self.body = body
        self.tables = tables
        self.route = route

    def is_current(self) -> bool:
        return all(
            not table.needs_check()
            and table.snapshot.version == version
            and (count is None or table.check_count == count)
            for table, version, count in self.tables
        )


class ResponseCacheMiddleware:
    """Keep the last ``max_entries`` cacheable 200 responses, least recently used dropped."""

    def __init__(self, app: ASGIApp, max_entries: int) -> None:
        self.app = app
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or any(name == ORIGIN_HEADER for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        entry = self._entries.get(key)
        if entry is not None and entry.is_current():
            self._entries.move_to_end(key)
            if entry.route is not None:
                scope["path_template"] = entry.route
            await send(entry.start)
            await send(entry.body)
            return
        await self._serve_and_keep(key, scope, receive, send)

    async def _serve_and_keep(
        self, key: tuple[str, bytes], scope: Scope, receive: Receive, send: Send
    ) -> None:
        messages: list[Any] = []

        async def keep(message: Message) -> None:
            messages.append(message)
            await send(message)

        read: list[tuple[WarehouseTable, int, int | None]] = []
        token = TABLES_READ.set(read)
        try:
            await self.app(scope, receive, keep)
        finally:
            TABLES_READ.reset(token)
        if not read or len(messages) != 2 or messages[0].get("status") != 200:
            return
        start, body = messages
        if body.get("more_body"):
            return
        route = scope.get("path_template")
        self._entries[key] = _Entry(start, body, tuple(dict.fromkeys(read)), route)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
