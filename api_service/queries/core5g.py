"""Queries over the 5G core registration marts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from api_service.queries.common import (
    REGISTRATION_FAILURES,
    REGISTRATION_KPIS,
    Thresholds,
    number,
    rate,
    rounded,
    select,
    with_columns,
)
from api_service.schemas import (
    RegistrationFailureGroup,
    RegistrationFailuresResponse,
    RegistrationGroup,
    RegistrationKpisResponse,
    RegistrationPoint,
    RegistrationTotals,
)
from api_service.tables import TableSnapshot

REGISTRATION_COLUMNS = [
    ("amf_instance", pa.string()),
    ("total_attempts", pa.int64()),
    ("successful", pa.int64()),
    ("failed", pa.int64()),
    ("no_response", pa.int64()),
    ("latency_samples", pa.int64()),
    ("avg_latency", pa.float64()),
    ("p95_latency", pa.float64()),
    ("p99_latency", pa.float64()),
    ("deployment_status", pa.string()),
]


def registration_sums(table: pa.Table, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Sum the registration counts of ``table`` per ``keys`` (one row for no keys).

    A row's mean latency covers its ``latency_samples`` successful attempts, so the means are
    weighted by those. A mart without that column is weighted by its attempts.
    """
    table = with_columns(table, REGISTRATION_COLUMNS)
    latency = table["avg_latency"]
    samples = pc.coalesce(table["latency_samples"], table["total_attempts"])
    weights = pc.cast(pc.fill_null(samples, 0), pa.float64())
    table = table.append_column("latency_total", pc.multiply(latency, weights)).append_column(
        "latency_weight", pc.if_else(pc.is_null(latency), 0.0, weights)
    )
    aggregations = [
        ("total_attempts", "sum"),
        ("successful", "sum"),
        ("failed", "sum"),
        ("no_response", "sum"),
        ("latency_total", "sum"),
        ("latency_weight", "sum"),
        ("p95_latency", "max"),
        ("p99_latency", "max"),
        ("date", "max"),
        ("site_id", "count_distinct"),
        ("amf_instance", "count_distinct"),
    ]
    return table.group_by(list(keys), use_threads=False).aggregate(aggregations).to_pylist()


def registration_totals(sums: Mapping[str, Any]) -> RegistrationTotals:
    attempts = number(sums.get("total_attempts_sum"))
    successful = number(sums.get("successful_sum"))
    latency_weight = sums.get("latency_weight_sum") or 0.0
    latency_total = sums.get("latency_total_sum")
    return RegistrationTotals(
        total_attempts=attempts,
        successful=successful,
        failed=number(sums.get("failed_sum")),
        no_response=number(sums.get("no_response_sum")),
        success_rate=rate(successful, attempts),
        avg_latency=rounded(latency_total / latency_weight) if latency_weight else None,
        max_p95_latency=rounded(sums.get("p95_latency_max")),
        max_p99_latency=rounded(sums.get("p99_latency_max")),
    )


def overall_registration_totals(table: pa.Table | None) -> tuple[RegistrationTotals, int]:
    """Return the totals of every row and the number of AMF instances.

    An instance is a (site, AMF name) pair: sites often reuse names such as amf-1.
    """
    if table is None or table.num_rows == 0:
        return RegistrationTotals(), 0
    sums = registration_sums(table, [])[0]
    rows_with_amf = table.filter(pc.is_valid(table["amf_instance"]))
    instances = rows_with_amf.group_by(["site_id", "amf_instance"]).aggregate([]).num_rows
    return registration_totals(sums), instances


def latest_statuses(table: pa.Table) -> dict[tuple[str, str], str | None]:
    """Return the deployment status of each (site, AMF instance) on its latest date."""
    ordered = table.sort_by([("date", "descending")])
    statuses: dict[tuple[str, str], str | None] = {}
    for row in ordered.select(["site_id", "amf_instance", "deployment_status"]).to_pylist():
        statuses.setdefault((row["site_id"], row["amf_instance"]), row["deployment_status"])
    return statuses


def registration_groups(table: pa.Table | None) -> list[RegistrationGroup]:
    if table is None or table.num_rows == 0:
        return []
    table = with_columns(table, REGISTRATION_COLUMNS)
    statuses = latest_statuses(table)
    groups = [
        RegistrationGroup(
            site_id=sums["site_id"],
            amf_instance=sums["amf_instance"] or "",
            totals=registration_totals(sums),
            latest_status=statuses.get((sums["site_id"], sums["amf_instance"])),
            last_date=sums["date_max"],
        )
        for sums in registration_sums(table, ["site_id", "amf_instance"])
    ]
    return sorted(groups, key=lambda g: (g.site_id, g.amf_instance))


def registration_kpis(
    snapshots: Mapping[str, TableSnapshot],
    thresholds: Thresholds,
    *,
    days: int,
    site_id: str | None,
) -> RegistrationKpisResponse:
    """Registrations per (site, AMF instance) and per date over the window, with totals."""
    selection = select(snapshots[REGISTRATION_KPIS], days, site_id)
    rows = selection.rows
    totals, _ = overall_registration_totals(rows)
    daily = []
    if not selection.empty:
        for sums in sorted(registration_sums(rows, ["date"]), key=lambda s: s["date"]):
            daily.append(
                RegistrationPoint(
                    date=sums["date"],
                    sites=number(sums["site_id_count_distinct"]),
                    totals=registration_totals(sums),
                )
            )
    return RegistrationKpisResponse(
        source=selection.source, totals=totals, rows=registration_groups(rows), daily=daily
    )


def registration_failures(
    snapshots: Mapping[str, TableSnapshot],
    thresholds: Thresholds,
    *,
    days: int,
    site_id: str | None,
    limit: int,
) -> RegistrationFailuresResponse:
    """Failed registrations per outcome and 5GMM cause over the window, most frequent first.

    ``distinct_ues`` is summed over the (date, site, AMF instance) rows, so a UE rejected on
    two days counts twice.
    """
    selection = select(snapshots[REGISTRATION_FAILURES], days, site_id)
    if selection.empty:
        return RegistrationFailuresResponse(source=selection.source, total_attempts=0, rows=[])
    table = with_columns(
        selection.rows,
        [
            ("amf_instance", pa.string()),
            ("outcome", pa.string()),
            ("cause_code", pa.int64()),
            ("cause_name", pa.string()),
            ("attempts", pa.int64()),
            ("distinct_ues", pa.int64()),
            ("first_seen", pa.timestamp("us", tz="UTC")),
            ("last_seen", pa.timestamp("us", tz="UTC")),
        ],
    )
    grouped = table.group_by(["outcome", "cause_code", "cause_name"], use_threads=False).aggregate(
        [
            ("attempts", "sum"),
            ("distinct_ues", "sum"),
            ("site_id", "count_distinct"),
            ("amf_instance", "distinct"),
            ("first_seen", "min"),
            ("last_seen", "max"),
        ]
    )
    ordered = sorted(
        grouped.to_pylist(),
        key=lambda r: (
            -number(r["attempts_sum"]),
            r["outcome"] or "",
            r["cause_code"] is None,
            r["cause_code"] or 0,
        ),
    )
    rows = [
        RegistrationFailureGroup(
            outcome=r["outcome"],
            cause_code=None if r["cause_code"] is None else int(r["cause_code"]),
            cause_name=r["cause_name"],
            attempts=number(r["attempts_sum"]),
            distinct_ues=number(r["distinct_ues_sum"]),
            sites_affected=number(r["site_id_count_distinct"]),
            amf_instances=sorted(a for a in r["amf_instance_distinct"] if a is not None),
            first_seen=r["first_seen_min"],
            last_seen=r["last_seen_max"],
        )
        for r in ordered[:limit]
    ]
    total = sum(number(r["attempts_sum"]) for r in ordered)
    return RegistrationFailuresResponse(source=selection.source, total_attempts=total, rows=rows)
