"""Queries across domains: the platform overview, one site, and the SLA summary."""

from __future__ import annotations

from collections.abc import Mapping
from statistics import fmean

import pyarrow as pa
import pyarrow.compute as pc

from api_service.queries.common import (
    CONFIG_DRIFT,
    DEPLOYMENT_METRICS,
    DEVICE_HEALTH,
    FAILURE_ANALYSIS,
    REGISTRATION_KPIS,
    SITE_HEALTH,
    Thresholds,
    number,
    rate,
    records,
    select,
    sort_rows,
)
from api_service.queries.core5g import (
    overall_registration_totals,
    registration_groups,
    registration_sums,
)
from api_service.queries.netops import (
    deployment_groups,
    deployment_sums,
    failure_groups,
    overall_totals,
    totals_of,
)
from api_service.queries.rows import CONFIG_DRIFT_VIEW, DEVICE_HEALTH_VIEW, summarize
from api_service.schemas import (
    HealthScoreOverview,
    NetopsOverview,
    NetopsSla,
    OverviewResponse,
    RegistrationOverview,
    RegistrationSla,
    SiteDaily,
    SiteNetops,
    SiteRegistrations,
    SiteResponse,
    SiteScore,
    Source,
    SummaryResponse,
)
from api_service.tables import TableSnapshot

STATUSES = ("healthy", "degraded", "critical", "unknown")
SITE_TOP_FAILURES = 5
LOWEST_SITES = 5


def overview(
    snapshots: Mapping[str, TableSnapshot], thresholds: Thresholds, *, days: int
) -> OverviewResponse:
    """Deployment and registration totals over the window, the sites per status, and the
    daily health scores.

    A site's status comes from its success rate over the whole window, by the thresholds
    of the marts' ``deployment_status``.
    """
    deployments = select(snapshots[DEPLOYMENT_METRICS], days)
    failures = select(snapshots[FAILURE_ANALYSIS], days)
    registrations = select(snapshots[REGISTRATION_KPIS], days)
    site_health = select(snapshots[SITE_HEALTH], days)
    by_status = dict.fromkeys(STATUSES, 0)
    site_count = 0
    if not deployments.empty:
        for sums in deployment_sums(deployments.rows, ["site_id"]):
            by_status[thresholds.status(totals_of(sums).success_rate)] += 1
            site_count += 1
    _, failure_total, _ = failure_groups(failures.rows, 0)
    registration_totals, amf_instances = overall_registration_totals(registrations.rows)
    return OverviewResponse(
        netops=NetopsOverview(
            source=deployments.source,
            sites=site_count,
            totals=overall_totals(deployments.rows),
            sites_by_status=by_status,
            failure_count=failure_total,
        ),
        core5g=RegistrationOverview(
            source=registrations.source,
            sites=_distinct_sites(registrations.rows),
            amf_instances=amf_instances,
            totals=registration_totals,
        ),
        site_health=health_scores(site_health.source, site_health.rows),
    )


def health_scores(source: Source, rows: pa.Table | None) -> HealthScoreOverview:
    """Return the mean health score over the window and the sites with the lowest means."""
    if rows is None or rows.num_rows == 0 or "health_score" not in rows.column_names:
        return HealthScoreOverview(
            source=source, sites=_distinct_sites(rows), avg_health_score=None, lowest_sites=[]
        )
    means = rows.group_by(["site_id"], use_threads=False).aggregate([("health_score", "mean")])
    scored = [
        SiteScore(site_id=row["site_id"], avg_health_score=round(row["health_score_mean"], 2))
        for row in means.to_pylist()
        if row["health_score_mean"] is not None
    ]
    scored.sort(key=lambda score: (score.avg_health_score, score.site_id))
    mean = pc.mean(rows["health_score"]).as_py()
    return HealthScoreOverview(
        source=source,
        sites=_distinct_sites(rows),
        avg_health_score=None if mean is None else round(mean, 2),
        lowest_sites=scored[:LOWEST_SITES],
    )


def _distinct_sites(table: pa.Table | None) -> int:
    if table is None or table.num_rows == 0:
        return 0
    return len(set(table["site_id"].to_pylist()))


def site(
    snapshots: Mapping[str, TableSnapshot],
    thresholds: Thresholds,
    *,
    days: int,
    site_id: str,
) -> SiteResponse:
    """Everything served about one site over the window."""
    deployments = select(snapshots[DEPLOYMENT_METRICS], days, site_id)
    failures = select(snapshots[FAILURE_ANALYSIS], days, site_id)
    daily = select(snapshots[SITE_HEALTH], days, site_id)
    registrations = select(snapshots[REGISTRATION_KPIS], days, site_id)
    devices = select(snapshots[DEVICE_HEALTH], days, site_id)
    drift = select(snapshots[CONFIG_DRIFT], days, site_id)

    totals = overall_totals(deployments.rows)
    top_failures, _, _ = failure_groups(failures.rows, SITE_TOP_FAILURES)
    daily_rows = [] if daily.rows is None else records(sort_rows(daily.rows, ()))
    registration_totals, _ = overall_registration_totals(registrations.rows)
    return SiteResponse(
        site_id=site_id,
        netops=SiteNetops(
            source=deployments.source,
            totals=totals,
            deployment_status=thresholds.status(totals.success_rate),
            playbooks=deployment_groups(deployments.rows, thresholds),
            top_failures=top_failures,
        ),
        daily=SiteDaily(source=daily.source, rows=daily_rows),
        core5g=SiteRegistrations(
            source=registrations.source,
            totals=registration_totals,
            amf_instances=registration_groups(registrations.rows),
        ),
        device_health={
            "source": devices.source,
            **summarize(DEVICE_HEALTH_VIEW, devices.rows),
        },
        config_drift={"source": drift.source, **summarize(CONFIG_DRIFT_VIEW, drift.rows)},
    )


def _sla_figures(
    site_day_rates: list[tuple[str, float | None]], target: float
) -> tuple[float | None, int, int, float | None, list[str]]:
    """Return the mean rate, site-days with a rate, those meeting ``target``, their share in
    percent, and the sites whose mean rate misses ``target``."""
    known = [(s, r) for s, r in site_day_rates if r is not None]
    meeting = sum(1 for _, r in known if r >= target)
    per_site: dict[str, list[float]] = {}
    for site_id, value in known:
        per_site.setdefault(site_id, []).append(value)
    below = sorted(s for s, values in per_site.items() if fmean(values) < target)
    mean = round(fmean(r for _, r in known), 2) if known else None
    return mean, len(known), meeting, rate(meeting, len(known)), below


def summary(
    snapshots: Mapping[str, TableSnapshot], thresholds: Thresholds, *, days: int
) -> SummaryResponse:
    """Success rates against the healthy threshold over the window, for deployments and 5G
    registrations."""
    deployments = select(snapshots[DEPLOYMENT_METRICS], days)
    registrations = select(snapshots[REGISTRATION_KPIS], days)
    return SummaryResponse(
        netops=_netops_sla(deployments.source, deployments.rows, thresholds),
        core5g=_registration_sla(registrations.source, registrations.rows, thresholds),
    )


def _netops_sla(source: Source, rows: pa.Table | None, thresholds: Thresholds) -> NetopsSla:
    site_days = (
        [] if rows is None or rows.num_rows == 0 else deployment_sums(rows, ["date", "site_id"])
    )
    rates = [(s["site_id"], totals_of(s).success_rate) for s in site_days]
    mean, known, meeting, compliance, below = _sla_figures(rates, thresholds.healthy)
    totals = overall_totals(rows)
    return NetopsSla(
        source=source,
        sla_target=thresholds.healthy,
        avg_success_rate=mean,
        overall_success_rate=totals.success_rate,
        site_days=known,
        site_days_meeting_sla=meeting,
        sla_compliance=compliance,
        sites=len({s["site_id"] for s in site_days}),
        sites_below_sla=below,
        total_executions=totals.total_executions,
    )


def _registration_sla(
    source: Source, rows: pa.Table | None, thresholds: Thresholds
) -> RegistrationSla:
    site_days = (
        [] if rows is None or rows.num_rows == 0 else registration_sums(rows, ["date", "site_id"])
    )
    rates = [
        (s["site_id"], rate(number(s["successful_sum"]), number(s["total_attempts_sum"])))
        for s in site_days
    ]
    mean, known, meeting, compliance, below = _sla_figures(rates, thresholds.healthy)
    totals, _ = overall_registration_totals(rows)
    return RegistrationSla(
        source=source,
        sla_target=thresholds.healthy,
        avg_success_rate=mean,
        overall_success_rate=totals.success_rate,
        site_days=known,
        site_days_meeting_sla=meeting,
        sla_compliance=compliance,
        sites=len({s["site_id"] for s in site_days}),
        sites_below_sla=below,
        total_attempts=totals.total_attempts,
        max_p95_latency=totals.max_p95_latency,
    )
