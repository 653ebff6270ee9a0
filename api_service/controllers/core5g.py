"""5G core KPIs: registrations, sessions, cell throughput and network function health."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get

from api_service.controllers import SITE_RESPONSES
from api_service.controllers.devices import ROWS_LIMIT
from api_service.params import DEFAULT_DAYS, Days, SiteFilter, limit_parameter
from api_service.queries import core5g as queries
from api_service.queries.common import REGISTRATION_FAILURES, REGISTRATION_KPIS
from api_service.queries.rows import (
    CELL_THROUGHPUT_VIEW,
    NF_HEALTH_VIEW,
    SESSION_KPIS_VIEW,
    RowsView,
    list_rows,
)
from api_service.schemas import (
    RegistrationFailuresResponse,
    RegistrationKpisResponse,
    RowsResponse,
)
from api_service.service import Service

FAILURES_LIMIT = 20
Limit = Annotated[int, limit_parameter(ROWS_LIMIT)]


class Core5gController(Controller):
    path = "/api/5g"
    tags = ("5g",)

    @get("/registration-kpis", summary="Registration KPIs", responses=SITE_RESPONSES)
    async def registration_kpis(
        self, service: Service, days: Days = DEFAULT_DAYS, site_id: SiteFilter = None
    ) -> RegistrationKpisResponse:
        """UE registrations per (site, AMF instance) and per date over the window: attempts,
        successes, success rate and latency, from the AMF counters and logs."""
        return await service.run(
            queries.registration_kpis, (REGISTRATION_KPIS,), site_id=site_id, days=days
        )

    @get(
        "/registration-failures", summary="Registration rejects by cause", responses=SITE_RESPONSES
    )
    async def registration_failures(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        site_id: SiteFilter = None,
        limit: Annotated[int, limit_parameter(FAILURES_LIMIT)] = FAILURES_LIMIT,
    ) -> RegistrationFailuresResponse:
        """Rejected UE registrations per 5GMM cause (TS 24.501) over the window, most frequent
        first, with the UEs, sites and AMF instances affected."""
        return await service.run(
            queries.registration_failures,
            (REGISTRATION_FAILURES,),
            site_id=site_id,
            days=days,
            limit=limit,
        )

    @get("/session-kpis", summary="PDU session KPIs", responses=SITE_RESPONSES)
    async def session_kpis(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        site_id: SiteFilter = None,
        limit: Limit = ROWS_LIMIT,
    ) -> RowsResponse:
        """PDU session establishments per site and day from the SMF counters: attempts,
        successes, setup success rate and failure causes."""
        return await _rows(service, SESSION_KPIS_VIEW, days, site_id, limit)

    @get("/cell-throughput", summary="Cell throughput", responses=SITE_RESPONSES)
    async def cell_throughput(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        site_id: SiteFilter = None,
        limit: Limit = ROWS_LIMIT,
    ) -> RowsResponse:
        """Uplink and downlink volume and throughput per cell and day, from the charging data
        records' usage containers."""
        return await _rows(service, CELL_THROUGHPUT_VIEW, days, site_id, limit)

    @get("/nf-health", summary="Network function health", responses=SITE_RESPONSES)
    async def nf_health(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        site_id: SiteFilter = None,
        limit: Limit = ROWS_LIMIT,
    ) -> RowsResponse:
        """Per network function instance and day: Prometheus scrapes, restarts, availability
        and the quality of its gauges."""
        return await _rows(service, NF_HEALTH_VIEW, days, site_id, limit)


async def _rows(
    service: Service, view: RowsView, days: int, site_id: str | None, limit: int
) -> RowsResponse:
    return await service.run(
        list_rows, (view.table,), site_id=site_id, view=view, days=days, limit=limit
    )
