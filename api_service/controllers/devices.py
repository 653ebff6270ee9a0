"""Network devices: daily health and configuration drift."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from api_service.controllers import SITE_RESPONSES
from api_service.params import DEFAULT_DAYS, Days, DeviceFilter, SiteFilter, limit_parameter
from api_service.queries import rows as queries
from api_service.schemas import RowsResponse
from api_service.service import Service

ROWS_LIMIT = 500


class DevicesController(Controller):
    path = "/api/netops"
    tags = ("netops",)

    @get("/device-health", summary="Device health per day", responses=SITE_RESPONSES)
    async def device_health(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        site_id: SiteFilter = None,
        device: DeviceFilter = None,
        limit: Annotated[int, limit_parameter(ROWS_LIMIT)] = ROWS_LIMIT,
    ) -> RowsResponse:
        """One row per (date, site, device) from the network monitor's samples: availability,
        CPU and memory percentiles, interface error and discard rates."""
        view = queries.DEVICE_HEALTH_VIEW
        return await service.run(
            queries.list_rows,
            (view.table,),
            site_id=site_id,
            view=view,
            days=days,
            limit=limit,
            filters=_frozen({"device": device}),
        )

    @get(
        "/config-drift", summary="Configuration drift per device and day", responses=SITE_RESPONSES
    )
    async def config_drift(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        site_id: SiteFilter = None,
        device: DeviceFilter = None,
        include_diff: Annotated[
            bool, Parameter(description="Also return the unified diff of each day's changes.")
        ] = False,
        limit: Annotated[int, limit_parameter(ROWS_LIMIT)] = ROWS_LIMIT,
    ) -> RowsResponse:
        """One row per (date, site, device) from the configuration backups: whether the
        configuration changed against the previous backup and the role's golden one, lines
        changed, and whether a deployment explains the change."""
        view = queries.CONFIG_DRIFT_VIEW
        return await service.run(
            queries.list_rows,
            (view.table,),
            site_id=site_id,
            view=view,
            days=days,
            limit=limit,
            filters=_frozen({"device": device}),
            show_hidden=include_diff,
        )


def _frozen(filters: dict) -> tuple:
    """Return the filters as a hashable tuple of pairs, for the result cache key."""
    return tuple(sorted((k, v) for k, v in filters.items() if v is not None))
