"""Helpers shared by the queries: table names, windows, rates and row conversion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from api_service.schemas import Column, Source, Window
from api_service.tables import TableSnapshot

# The Hive tables served. The names are those of the mart modules (``*_TABLE`` constants in
# deploy_manager); they are repeated here so that the API never imports pyspark.
DEPLOYMENT_METRICS = "netops.ansible_deployment_metrics"
FAILURE_ANALYSIS = "netops.deployment_failure_analysis"
CONFIG_DRIFT = "netops.config_drift"
DEVICE_HEALTH = "netops.device_health"
SITE_HEALTH = "kpi.site_health_daily"
REGISTRATION_KPIS = "core5g.registration_kpis"
REGISTRATION_FAILURES = "core5g.registration_failures"
SESSION_KPIS = "core5g.session_kpis"
CELL_THROUGHPUT = "core5g.cell_throughput"
NF_HEALTH = "core5g.nf_health"

ALL_TABLES = (
    DEPLOYMENT_METRICS,
    FAILURE_ANALYSIS,
    CONFIG_DRIFT,
    DEVICE_HEALTH,
    SITE_HEALTH,
    REGISTRATION_KPIS,
    REGISTRATION_FAILURES,
    SESSION_KPIS,
    CELL_THROUGHPUT,
    NF_HEALTH,
)


@dataclass(frozen=True)
class Thresholds:
    """Success rates (percent) at or above which a site is healthy, below which critical."""

    healthy: float
    critical: float

    def status(self, success_rate: float | None) -> str:
        """Return the status of a success rate by the rule of the marts' deployment_status."""
        if success_rate is None:
            return "unknown"
        if success_rate >= self.healthy:
            return "healthy"
        if success_rate >= self.critical:
            return "degraded"
        return "critical"


@dataclass(frozen=True)
class Selection:
    """Rows of one table in the window, and where they came from."""

    source: Source
    rows: pa.Table | None

    @property
    def empty(self) -> bool:
        return self.rows is None or self.rows.num_rows == 0


def select(snapshot: TableSnapshot, days: int, site_id: str | None = None) -> Selection:
    """Return the rows of the ``days`` dates up to the table's latest date, for one site or
    all."""
    bounds = snapshot.window(days)
    window = (
        None if bounds is None else Window(first_date=bounds[0], last_date=bounds[1], days=days)
    )
    source = Source(
        table=snapshot.name,
        materialized=snapshot.materialized,
        latest_date=snapshot.latest_date,
        window=window,
    )
    rows = None if bounds is None else snapshot.rows(bounds[0], bounds[1], site_id)
    return Selection(source, rows)


def rate(numerator: float, denominator: float) -> float | None:
    """Return numerator / denominator in percent, rounded to 2 decimals, or None for 0."""
    if not denominator:
        return None
    return round(numerator * 100.0 / denominator, 2)


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def column(table: pa.Table, name: str, kind: pa.DataType) -> pa.ChunkedArray:
    """Return column ``name``, or NULLs of ``kind`` when the table lacks it."""
    if name in table.column_names:
        return table[name]
    return pa.chunked_array([pa.nulls(table.num_rows, kind)])


def with_columns(table: pa.Table, names: Iterable[tuple[str, pa.DataType]]) -> pa.Table:
    """Return ``table`` with every column of ``names``, adding the missing ones as NULLs."""
    for name, kind in names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
    return table


def number(value: Any) -> int:
    """Return a summed count, 0 for NULL."""
    return int(value or 0)


def records(table: pa.Table) -> list[dict[str, Any]]:
    """Return the rows as dictionaries ready for JSON."""
    return table.to_pylist()


def columns_of(table: pa.Table | None, snapshot: TableSnapshot) -> list[Column]:
    schema = table.schema if table is not None else None
    if schema is None and snapshot.data is not None:
        schema = snapshot.data.schema
    if schema is None:
        return []
    return [Column(name=f.name, type=str(f.type)) for f in schema]


def sort_rows(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Sort by date (newest first), then site and ``keys`` that the table has."""
    order = [("date", "descending"), ("site_id", "ascending")]
    order += [(k, "ascending") for k in keys if k in table.column_names]
    return table.sort_by(order)


def dates_between(first: date, last: date) -> list[date]:
    from datetime import timedelta

    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
