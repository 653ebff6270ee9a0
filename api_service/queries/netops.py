"""Queries over the NetOps marts: deployment runs, their daily trend and top failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from api_service.queries.common import (
    DEPLOYMENT_METRICS,
    FAILURE_ANALYSIS,
    Thresholds,
    dates_between,
    number,
    rate,
    rounded,
    select,
    with_columns,
)
from api_service.schemas import (
    DeploymentGroup,
    DeploymentsResponse,
    DeploymentTotals,
    FailureGroup,
    FailuresResponse,
    TrendPoint,
    TrendsResponse,
)
from api_service.tables import TableSnapshot

DEPLOYMENT_COUNTS = (
    "total_executions",
    "successful",
    "failed",
    "incomplete",
    "host_executions",
    "host_successes",
)


def _with_duration_weights(table: pa.Table) -> pa.Table:
    """Add the columns that turn per-row mean durations into a mean over finished runs.

    A row's ``avg_duration`` is the mean over its finished runs, so the combined mean is
    sum(avg_duration x finished) / sum(finished) over the rows that have a duration.
    """
    table = with_columns(
        table,
        [(name, pa.int64()) for name in DEPLOYMENT_COUNTS]
        + [("avg_duration", pa.float64()), ("playbook", pa.string())],
    )
    finished = pc.add(pc.fill_null(table["successful"], 0), pc.fill_null(table["failed"], 0))
    duration = table["avg_duration"]
    return table.append_column(
        "duration_total", pc.multiply(duration, pc.cast(finished, pa.float64()))
    ).append_column("duration_runs", pc.if_else(pc.is_null(duration), 0, finished))


def deployment_sums(table: pa.Table, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Sum the deployment counts of ``table`` per ``keys`` (one row for no keys)."""
    weighted = _with_duration_weights(table)
    aggregations = [(name, "sum") for name in (*DEPLOYMENT_COUNTS, "duration_total")]
    aggregations += [
        ("duration_runs", "sum"),
        ("date", "max"),
        ("date", "count_distinct"),
        ("site_id", "count_distinct"),
    ]
    return weighted.group_by(list(keys), use_threads=False).aggregate(aggregations).to_pylist()


def totals_of(sums: Mapping[str, Any]) -> DeploymentTotals:
    """Build the totals of one row of ``deployment_sums``, with rates from the summed counts."""
    successful = number(sums.get("successful_sum"))
    failed = number(sums.get("failed_sum"))
    host_executions = number(sums.get("host_executions_sum"))
    host_successes = number(sums.get("host_successes_sum"))
    duration_runs = number(sums.get("duration_runs_sum"))
    duration_total = sums.get("duration_total_sum")
    return DeploymentTotals(
        total_executions=number(sums.get("total_executions_sum")),
        successful=successful,
        failed=failed,
        incomplete=number(sums.get("incomplete_sum")),
        success_rate=rate(successful, successful + failed),
        host_executions=host_executions,
        host_successes=host_successes,
        host_success_rate=rate(host_successes, host_executions),
        avg_duration=rounded(duration_total / duration_runs) if duration_runs else None,
    )


def overall_totals(table: pa.Table | None) -> DeploymentTotals:
    if table is None or table.num_rows == 0:
        return DeploymentTotals()
    return totals_of(deployment_sums(table, [])[0])


def deployment_groups(table: pa.Table | None, thresholds: Thresholds) -> list[DeploymentGroup]:
    """Return one group per (site, playbook), ordered by site then playbook."""
    if table is None or table.num_rows == 0:
        return []
    groups = []
    for sums in deployment_sums(table, ["site_id", "playbook"]):
        totals = totals_of(sums)
        groups.append(
            DeploymentGroup(
                site_id=sums["site_id"],
                playbook=sums["playbook"] or "",
                totals=totals,
                deployment_status=thresholds.status(totals.success_rate),
                days_with_runs=number(sums["date_count_distinct"]),
                last_run_date=sums["date_max"],
            )
        )
    return sorted(groups, key=lambda g: (g.site_id, g.playbook))


def deployments(
    snapshots: Mapping[str, TableSnapshot],
    thresholds: Thresholds,
    *,
    days: int,
    site_id: str | None,
    playbook: str | None,
) -> DeploymentsResponse:
    """Runs per (site, playbook) over the window, with totals over every row selected."""
    selection = select(snapshots[DEPLOYMENT_METRICS], days, site_id)
    rows = selection.rows
    if rows is not None and playbook is not None and "playbook" in rows.column_names:
        rows = rows.filter(pc.field("playbook") == playbook)
    return DeploymentsResponse(
        source=selection.source,
        totals=overall_totals(rows),
        rows=deployment_groups(rows, thresholds),
    )


def failure_counts_by_date(table: pa.Table | None) -> dict:
    if table is None or table.num_rows == 0 or "failure_count" not in table.column_names:
        return {}
    sums = table.group_by(["date"], use_threads=False).aggregate([("failure_count", "sum")])
    return {row["date"]: number(row["failure_count_sum"]) for row in sums.to_pylist()}


def deployment_trends(
    snapshots: Mapping[str, TableSnapshot],
    thresholds: Thresholds,
    *,
    days: int,
    site_id: str | None,
) -> TrendsResponse:
    """One point per date of the window, dates without runs included with zero counts."""
    selection = select(snapshots[DEPLOYMENT_METRICS], days, site_id)
    failures = select(snapshots[FAILURE_ANALYSIS], days, site_id)
    window = selection.source.window
    points = []
    if window is not None:
        sums = {}
        if not selection.empty:
            sums = {row["date"]: row for row in deployment_sums(selection.rows, ["date"])}
        failure_counts = failure_counts_by_date(failures.rows)
        for day in dates_between(window.first_date, window.last_date):
            row = sums.get(day, {})
            points.append(
                TrendPoint(
                    date=day,
                    sites=number(row.get("site_id_count_distinct")),
                    totals=totals_of(row),
                    failure_count=failure_counts.get(day, 0),
                )
            )
    return TrendsResponse(source=selection.source, failures_source=failures.source, points=points)


def failure_groups(table: pa.Table | None, limit: int) -> tuple[list[FailureGroup], int, int]:
    """Return the ``limit`` most frequent error messages, the failures and the groups in all."""
    if table is None or table.num_rows == 0:
        return [], 0, 0
    table = with_columns(
        table,
        [
            ("error_message", pa.string()),
            ("failure_count", pa.int64()),
            ("hosts_affected", pa.int64()),
            ("playbook", pa.string()),
            ("example_message", pa.string()),
            ("last_failure_at", pa.timestamp("us", tz="UTC")),
        ],
    )
    table = table.set_column(
        table.column_names.index("error_message"),
        "error_message",
        pc.fill_null(table["error_message"], "<no error message>"),
    )
    grouped = table.group_by(["error_message"], use_threads=False).aggregate(
        [
            ("failure_count", "sum"),
            ("hosts_affected", "sum"),
            ("site_id", "count_distinct"),
            ("playbook", "distinct"),
            ("example_message", "min"),
            ("date", "min"),
            ("date", "max"),
            ("last_failure_at", "max"),
        ]
    )
    ordered = sorted(
        grouped.to_pylist(), key=lambda r: (-number(r["failure_count_sum"]), r["error_message"])
    )
    groups = [
        FailureGroup(
            error_message=row["error_message"],
            failure_count=number(row["failure_count_sum"]),
            hosts_affected=number(row["hosts_affected_sum"]),
            sites_affected=number(row["site_id_count_distinct"]),
            playbooks=sorted(p for p in row["playbook_distinct"] if p is not None),
            example_message=row["example_message_min"],
            first_date=row["date_min"],
            last_date=row["date_max"],
            last_failure_at=row["last_failure_at_max"],
        )
        for row in ordered[:limit]
    ]
    total = sum(number(r["failure_count_sum"]) for r in ordered)
    return groups, total, len(ordered)


def failures(
    snapshots: Mapping[str, TableSnapshot],
    thresholds: Thresholds,
    *,
    days: int,
    site_id: str | None,
    limit: int,
) -> FailuresResponse:
    """Top normalised error messages over the window, most frequent first."""
    selection = select(snapshots[FAILURE_ANALYSIS], days, site_id)
    groups, total, group_count = failure_groups(selection.rows, limit)
    return FailuresResponse(
        source=selection.source, total_failures=total, error_groups=group_count, rows=groups
    )
