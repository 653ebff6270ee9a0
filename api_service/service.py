"""The service behind the controllers: checks the site, then serves a query from the cache."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar.di import NamedDependency

from api_service.errors import InvalidParameterError, SiteNotFoundError
from api_service.params import PARAMETER_RULES, SITE_ID_PATTERN
from api_service.queries.common import ALL_TABLES, Thresholds
from api_service.response_cache import record_tables_read
from api_service.schemas import HealthResponse, TableHealth
from api_service.settings import ApiSettings
from api_service.tables import TableSnapshot, TableStore

# Default of ``site_id`` in ``KpiService.run`` for the queries that take no site.
NO_SITE_FILTER: Any = object()


class KpiService:
    """Runs the queries of ``api_service.queries`` over the warehouse tables, cached."""

    def __init__(self, settings: ApiSettings) -> None:
        self.store = TableStore(
            settings.warehouse_dir, settings.check_seconds, settings.cache_entries
        )
        self.thresholds = Thresholds(
            healthy=settings.healthy_success_rate, critical=settings.critical_success_rate
        )

    async def run(
        self,
        query: Callable[..., Any],
        tables: tuple[str, ...],
        *,
        site_id: str | None = NO_SITE_FILTER,
        **params: Any,
    ) -> Any:
        """Return ``query(snapshots, thresholds, **params)``, cached until one of ``tables``
        changes. ``site_id``, None included, is passed on to queries that filter by site.

        Raises:
            InvalidParameterError: ``site_id`` ends with a newline, which Python's ``$``
                accepts and JSON Schema's does not.
            SiteNotFoundError: no table has a partition for ``site_id``.
        """
        if site_id is not NO_SITE_FILTER:
            if site_id is not None:
                await self.require_site(site_id)
            params["site_id"] = site_id
        snapshots = await self.store.snapshots(tables)
        self._record_read(snapshots)
        key = (query, *params.items())
        return await self.store.cached(key, snapshots, query, self.thresholds, **params)

    def _record_read(
        self, snapshots: dict[str, TableSnapshot], *, shows_check_time: bool = False
    ) -> None:
        """Record the tables of ``snapshots`` and their versions for the response cache."""
        record_tables_read(
            [(self.store.table(name), s.version) for name, s in snapshots.items()],
            shows_check_time=shows_check_time,
        )

    async def require_site(self, site_id: str) -> None:
        if "\n" in site_id or not SITE_ID_PATTERN.match(site_id):
            raise InvalidParameterError(
                f"site_id {site_id!r} is invalid: {PARAMETER_RULES['site_id']}"
            )
        snapshots = await self.store.snapshots(ALL_TABLES)
        # Whether the site exists depends on every table, so a cached response does too.
        self._record_read(snapshots)
        if not any(site_id in snapshot.sites for snapshot in snapshots.values()):
            raise SiteNotFoundError(site_id)

    async def health(self) -> HealthResponse:
        """Return the state of every table: a table not materialized yet is listed as such.

        ``checked_at`` is the last look at the tables' folders, which a watcher repeats every
        few seconds, so the response cache keeps the response only until the next check.
        """
        snapshots = await self.store.snapshots(ALL_TABLES)
        # Recorded before checked_at is read, so a check in between only expires the response.
        self._record_read(snapshots, shows_check_time=True)
        tables = await self.store.cached(("health",), snapshots, _table_health)
        checked = [self.store.table(name).checked_at_utc for name in ALL_TABLES]
        return HealthResponse(
            status="ok",
            checked_at=max((c for c in checked if c is not None), default=datetime.now(UTC)),
            tables=tables,
        )


def _table_health(snapshots: dict[str, TableSnapshot]) -> list[TableHealth]:
    return [
        TableHealth(
            table=name,
            materialized=s.materialized,
            first_date=s.dates[0] if s.dates else None,
            latest_date=s.latest_date,
            dates=len(s.dates),
            sites=len(s.sites),
            partitions=s.partitions,
            rows_held=0 if s.data is None else s.data.num_rows,
            columns=s.columns,
        )
        for name, s in snapshots.items()
    ]


# The type controllers declare to receive the application's service, injected as ``service``.
Service = NamedDependency[KpiService]
