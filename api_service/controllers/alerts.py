"""Alerts raised by the alert sensor: failed checks, late sites and KPI thresholds.

Unlike the KPI endpoints, this one reads PostgreSQL (table ops.alerts in the database of
``DM_POSTGRES_URL``), because the alert sensor writes its rows there.
"""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
import psycopg
from litestar import Controller, get
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from msgspec import Struct

from api_service.controllers import PROTECTED_RESPONSES
from api_service.errors import ApiError
from api_service.params import SiteFilter
from api_service.schemas import ErrorBody
from deploy_manager.alerts.store import MAX_LIST_LIMIT, list_alerts
from deploy_manager.settings import load_settings

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
# Seconds one PostgreSQL connection attempt may take, so an unreachable database fails the
# request with 503 instead of holding it for the driver's default wait.
CONNECT_TIMEOUT_SECONDS = 5

Status = Annotated[
    Literal["open", "cleared", "all"],
    Parameter(description="open (not cleared, the default), cleared, or all."),
]
Kind = Annotated[
    Literal["check", "freshness", "threshold"] | None,
    Parameter(description="Only alerts of this kind: check, freshness or threshold."),
]
Limit = Annotated[
    int,
    Parameter(
        ge=1, le=MAX_LIST_LIMIT, description=f"Alerts returned at most (default {DEFAULT_LIMIT})."
    ),
]


class AlertsUnavailableError(ApiError):
    status_code = 503


class Alert(Struct, frozen=True):
    """One alert: a condition from the time it was raised until it cleared."""

    id: int
    status: str
    kind: str
    severity: str
    asset_key: str
    name: str
    site_id: str | None
    partition_date: date | None
    message: str
    details: dict[str, Any]
    raised_at: datetime
    cleared_at: datetime | None


class AlertsResponse(Struct, frozen=True):
    """Alerts newest first, with the filters applied."""

    status: str
    site_id: str | None
    kind: str | None
    count: int
    alerts: list[Alert]


def fetch_alerts(
    status: str, site_id: str | None, kind: str | None, limit: int
) -> list[dict[str, Any]]:
    """Read the alerts from ops.alerts; raise AlertsUnavailableError when PostgreSQL fails."""
    url = load_settings().postgres_url
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            return list_alerts(conn, status=status, site_id=site_id, kind=kind, limit=limit)
    except psycopg.Error as exc:
        log.error("reading ops.alerts failed: %s", exc)
        raise AlertsUnavailableError(
            f"alerts are unavailable: reading ops.alerts failed ({type(exc).__name__}); check "
            "that PostgreSQL at DM_POSTGRES_URL is up and migrated (deploy-manager migrate)"
        ) from exc


class AlertsController(Controller):
    path = "/api/alerts"
    tags = ("alerts",)

    @get(
        "/",
        summary="Alerts",
        responses={
            **PROTECTED_RESPONSES,
            503: ResponseSpec(
                ErrorBody, description="PostgreSQL with ops.alerts is unreachable or not migrated."
            ),
        },
    )
    async def alerts(
        self,
        status: Status = "open",
        site_id: SiteFilter = None,
        kind: Kind = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> AlertsResponse:
        """Alerts of the platform, newest first: failed asset checks per (date, site)
        partition, sites whose data is late, and sites whose KPIs breach a threshold. An alert
        is open until its condition clears."""
        rows = await anyio.to_thread.run_sync(
            functools.partial(fetch_alerts, status, site_id, kind, limit)
        )
        alerts = [
            Alert(
                id=row["id"],
                status="open" if row["cleared_at"] is None else "cleared",
                kind=row["kind"],
                severity=row["severity"],
                asset_key=row["asset_key"],
                name=row["name"],
                site_id=row["site_id"],
                partition_date=row["partition_date"],
                message=row["message"],
                details=row["details"],
                raised_at=row["raised_at"],
                cleared_at=row["cleared_at"],
            )
            for row in rows
        ]
        return AlertsResponse(
            status=status, site_id=site_id, kind=kind, count=len(alerts), alerts=alerts
        )
