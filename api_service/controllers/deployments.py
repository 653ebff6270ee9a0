"""Ansible deployment runs, their daily trend and their top failures."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get

from api_service.controllers import SITE_RESPONSES
from api_service.params import DEFAULT_DAYS, Days, PlaybookFilter, SiteFilter, limit_parameter
from api_service.queries import netops as queries
from api_service.queries.common import DEPLOYMENT_METRICS, FAILURE_ANALYSIS
from api_service.schemas import DeploymentsResponse, FailuresResponse, TrendsResponse
from api_service.service import Service

FAILURES_LIMIT = 20


class DeploymentsController(Controller):
    path = "/api/netops"
    tags = ("netops",)

    @get("/deployments", summary="Deployment runs per site and playbook", responses=SITE_RESPONSES)
    async def deployments(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        site_id: SiteFilter = None,
        playbook: PlaybookFilter = None,
    ) -> DeploymentsResponse:
        """Ansible runs per (site, playbook) over the window: executions, successes, failures,
        incomplete runs, run and host success rates and mean duration."""
        return await service.run(
            queries.deployments,
            (DEPLOYMENT_METRICS,),
            site_id=site_id,
            days=days,
            playbook=playbook,
        )

    @get("/deployment-trends", summary="Daily deployment series", responses=SITE_RESPONSES)
    async def deployment_trends(
        self, service: Service, days: Days = DEFAULT_DAYS, site_id: SiteFilter = None
    ) -> TrendsResponse:
        """One point per date of the window with the day's runs, success rates, mean duration
        and failures, for all sites or one."""
        return await service.run(
            queries.deployment_trends,
            (DEPLOYMENT_METRICS, FAILURE_ANALYSIS),
            site_id=site_id,
            days=days,
        )

    @get("/failures", summary="Top deployment failures", responses=SITE_RESPONSES)
    async def failures(
        self,
        service: Service,
        days: Days = DEFAULT_DAYS,
        limit: Annotated[int, limit_parameter(FAILURES_LIMIT)] = FAILURES_LIMIT,
        site_id: SiteFilter = None,
    ) -> FailuresResponse:
        """The most frequent normalised error messages of failed and unreachable Ansible tasks
        over the window, with hosts, sites and playbooks affected."""
        return await service.run(
            queries.failures, (FAILURE_ANALYSIS,), site_id=site_id, days=days, limit=limit
        )
