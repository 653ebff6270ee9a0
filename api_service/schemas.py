"""Response bodies of the API, which the OpenAPI schema is generated from.

Rates are percentages rounded to 2 decimals and NULL when their denominator is 0. Durations
are seconds. Times are UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from msgspec import Struct, field


class Window(Struct, frozen=True):
    """Dates first_date..last_date, the last ``days`` dates up to the table's latest date."""

    first_date: date
    last_date: date
    days: int


class Source(Struct, frozen=True):
    """Table a section was computed from, and the window read from it."""

    table: str
    materialized: bool
    latest_date: date | None
    window: Window | None


class ErrorBody(Struct, frozen=True):
    """Body of every error response."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] | None = None


# Health.


class TableHealth(Struct, frozen=True):
    table: str
    materialized: bool
    first_date: date | None
    latest_date: date | None
    dates: int
    sites: int
    partitions: int
    rows_held: int
    columns: list[str]


class HealthResponse(Struct, frozen=True):
    """Liveness, with the last time (UTC) the tables' folders were looked at."""

    status: str
    checked_at: datetime
    tables: list[TableHealth]


# NetOps deployments.


class DeploymentTotals(Struct, frozen=True):
    """Ansible runs summed over a set of (date, site, playbook) rows.

    ``success_rate`` counts finished runs only: incomplete runs (timed out, canceled or
    without stats) are neither successes nor failures.
    """

    total_executions: int = 0
    successful: int = 0
    failed: int = 0
    incomplete: int = 0
    success_rate: float | None = None
    host_executions: int = 0
    host_successes: int = 0
    host_success_rate: float | None = None
    avg_duration: float | None = None


class DeploymentGroup(Struct, frozen=True):
    site_id: str
    playbook: str
    totals: DeploymentTotals
    deployment_status: str
    days_with_runs: int
    last_run_date: date


class DeploymentsResponse(Struct, frozen=True):
    source: Source
    totals: DeploymentTotals
    rows: list[DeploymentGroup]


class TrendPoint(Struct, frozen=True):
    date: date
    sites: int
    totals: DeploymentTotals
    failure_count: int


class TrendsResponse(Struct, frozen=True):
    source: Source
    failures_source: Source
    points: list[TrendPoint]


class FailureGroup(Struct, frozen=True):
    """One normalised error message: hosts, numbers, paths and times are placeholders."""

    error_message: str
    failure_count: int
    hosts_affected: int
    sites_affected: int
    playbooks: list[str]
    example_message: str | None
    first_date: date
    last_date: date
    last_failure_at: datetime | None


class FailuresResponse(Struct, frozen=True):
    source: Source
    total_failures: int
    error_groups: int
    rows: list[FailureGroup]


# 5G core registrations.


class RegistrationTotals(Struct, frozen=True):
    """Registration attempts summed over (date, site, AMF instance) rows.

    ``total_attempts`` = successful + failed (rejected) + no_response, and ``success_rate`` is
    successful / total_attempts. Latencies are in ms over successful attempts: ``avg_latency``
    is the mean of the rows' means weighted by their latency samples. Percentiles cannot be
    combined across rows, so ``max_p95_latency`` and ``max_p99_latency`` are the worst row's.
    """

    total_attempts: int = 0
    successful: int = 0
    failed: int = 0
    no_response: int = 0
    success_rate: float | None = None
    avg_latency: float | None = None
    max_p95_latency: float | None = None
    max_p99_latency: float | None = None


class RegistrationGroup(Struct, frozen=True):
    site_id: str
    amf_instance: str
    totals: RegistrationTotals
    latest_status: str | None
    last_date: date


class RegistrationPoint(Struct, frozen=True):
    date: date
    sites: int
    totals: RegistrationTotals


class RegistrationKpisResponse(Struct, frozen=True):
    source: Source
    totals: RegistrationTotals
    rows: list[RegistrationGroup]
    daily: list[RegistrationPoint]


class RegistrationFailureGroup(Struct, frozen=True):
    """Failed registrations of one outcome (reject or no_response) and 5GMM cause."""

    outcome: str | None
    cause_code: int | None
    cause_name: str | None
    attempts: int
    distinct_ues: int
    sites_affected: int
    amf_instances: list[str]
    first_seen: datetime | None
    last_seen: datetime | None


class RegistrationFailuresResponse(Struct, frozen=True):
    source: Source
    total_attempts: int
    rows: list[RegistrationFailureGroup]


# Rows of a mart as they are, for the views whose columns grow with the marts.


class Column(Struct, frozen=True):
    name: str
    type: str


class RowsResponse(Struct, frozen=True):
    """Rows of one mart in the window, newest date first, with every column it has."""

    source: Source
    columns: list[Column]
    total_rows: int
    truncated: bool
    summary: dict[str, Any]
    rows: list[dict[str, Any]]


# Overview, one site, SLA summary.


class NetopsOverview(Struct, frozen=True):
    source: Source
    sites: int
    totals: DeploymentTotals
    sites_by_status: dict[str, int]
    failure_count: int


class RegistrationOverview(Struct, frozen=True):
    source: Source
    sites: int
    amf_instances: int
    totals: RegistrationTotals


class SiteScore(Struct, frozen=True):
    site_id: str
    avg_health_score: float


class HealthScoreOverview(Struct, frozen=True):
    """Daily site health scores (0 to 100) of the KPI table over the window.

    ``avg_health_score`` weighs every (date, site) row the same. The lists are empty and the
    mean is NULL while the table has no ``health_score`` column.
    """

    source: Source
    sites: int
    avg_health_score: float | None
    lowest_sites: list[SiteScore]


class OverviewResponse(Struct, frozen=True):
    netops: NetopsOverview
    core5g: RegistrationOverview = field(name="5g")
    site_health: HealthScoreOverview | None = None


class SiteNetops(Struct, frozen=True):
    source: Source
    totals: DeploymentTotals
    deployment_status: str
    playbooks: list[DeploymentGroup]
    top_failures: list[FailureGroup]


class SiteDaily(Struct, frozen=True):
    """The site's rows of the daily KPI table, newest first, with every column it has."""

    source: Source
    rows: list[dict[str, Any]]


class SiteRegistrations(Struct, frozen=True):
    source: Source
    totals: RegistrationTotals
    amf_instances: list[RegistrationGroup]


class SiteResponse(Struct, frozen=True):
    site_id: str
    netops: SiteNetops
    daily: SiteDaily
    core5g: SiteRegistrations = field(name="5g")
    device_health: dict[str, Any]
    config_drift: dict[str, Any]


class NetopsSla(Struct, frozen=True):
    """Deployment success against the healthy threshold.

    ``avg_success_rate`` is the mean of the per (date, site) success rates, so every site-day
    weighs the same. ``overall_success_rate`` pools every finished run.
    """

    source: Source
    sla_target: float
    avg_success_rate: float | None
    overall_success_rate: float | None
    site_days: int
    site_days_meeting_sla: int
    sla_compliance: float | None
    sites: int
    sites_below_sla: list[str]
    total_executions: int


class RegistrationSla(Struct, frozen=True):
    """Registration success against the healthy threshold, with the same definitions."""

    source: Source
    sla_target: float
    avg_success_rate: float | None
    overall_success_rate: float | None
    site_days: int
    site_days_meeting_sla: int
    sla_compliance: float | None
    sites: int
    sites_below_sla: list[str]
    total_attempts: int
    max_p95_latency: float | None


class SummaryResponse(Struct, frozen=True):
    netops: NetopsSla
    core5g: RegistrationSla = field(name="5g")
