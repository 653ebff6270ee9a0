"""SLA summary across domains."""

from __future__ import annotations

from litestar import Controller, get

from api_service.controllers import PROTECTED_RESPONSES
from api_service.params import DEFAULT_DAYS, Days
from api_service.queries import overview as queries
from api_service.queries.common import DEPLOYMENT_METRICS, REGISTRATION_KPIS
from api_service.schemas import SummaryResponse
from api_service.service import Service


class StatsController(Controller):
    path = "/api/stats"
    tags = ("stats",)

    @get("/summary", summary="SLA summary", responses=PROTECTED_RESPONSES)
    async def summary(self, service: Service, days: Days = DEFAULT_DAYS) -> SummaryResponse:
        """Deployment and 5G registration success rates over the window against the healthy
        threshold: mean and pooled rates, site-days meeting it and sites below it."""
        return await service.run(
            queries.summary, (DEPLOYMENT_METRICS, REGISTRATION_KPIS), days=days
        )
