"""The platform overview and everything about one site."""

from __future__ import annotations

from litestar import Controller, get

from api_service.controllers import PROTECTED_RESPONSES, SITE_RESPONSES
from api_service.params import DEFAULT_DAYS, Days, SitePath
from api_service.queries import overview as queries
from api_service.queries.common import (
    CONFIG_DRIFT,
    DEPLOYMENT_METRICS,
    DEVICE_HEALTH,
    FAILURE_ANALYSIS,
    REGISTRATION_KPIS,
    SITE_HEALTH,
)
from api_service.schemas import OverviewResponse, SiteResponse
from api_service.service import Service


class DeploymentManagerController(Controller):
    path = "/api/deployment-manager"
    tags = ("deployment-manager",)

    @get("/overview", summary="Platform overview", responses=PROTECTED_RESPONSES)
    async def overview(self, service: Service, days: Days = DEFAULT_DAYS) -> OverviewResponse:
        """Deployment run counts and success rates, sites per health status, failures, 5G
        registration KPIs and site health scores over the last ``days`` materialized dates
        of each table."""
        return await service.run(
            queries.overview,
            (DEPLOYMENT_METRICS, FAILURE_ANALYSIS, REGISTRATION_KPIS, SITE_HEALTH),
            days=days,
        )

    @get("/sites/{site_id:str}", summary="One site", responses=SITE_RESPONSES)
    async def site(
        self, service: Service, site_id: SitePath, days: Days = DEFAULT_DAYS
    ) -> SiteResponse:
        """One site's deployments per playbook, top failures, daily KPI rows, 5G registrations
        per AMF instance, device health and configuration drift over the window."""
        return await service.run(
            queries.site,
            (
                DEPLOYMENT_METRICS,
                FAILURE_ANALYSIS,
                SITE_HEALTH,
                REGISTRATION_KPIS,
                DEVICE_HEALTH,
                CONFIG_DRIFT,
            ),
            site_id=site_id,
            days=days,
        )
