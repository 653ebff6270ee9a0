"""Views that return a mart's rows with every column it has, plus a short summary.

These serve the marts whose columns still grow (5G sessions, cell throughput, NF health,
device health and configuration drift): a column added to a mart appears in the rows without
a change here. The summary lists only the aggregates whose columns the mart has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from api_service.queries.common import (
    CELL_THROUGHPUT,
    CONFIG_DRIFT,
    DEVICE_HEALTH,
    NF_HEALTH,
    SESSION_KPIS,
    Thresholds,
    columns_of,
    rate,
    records,
    select,
    sort_rows,
)
from api_service.schemas import RowsResponse
from api_service.tables import TableSnapshot

Aggregate = tuple[str, str, str]  # output name, column, pyarrow.compute function (sum, max, ...)


@dataclass(frozen=True)
class RowsView:
    """Listing of one mart: its sort keys and the aggregates of its summary."""

    table: str
    sort_keys: Sequence[str]
    aggregates: Sequence[Aggregate] = ()
    distinct_counts: Sequence[str] = ()
    # Rates in percent: output name, the columns summed above and below the fraction bar.
    rates: Sequence[tuple[str, tuple[str, ...], tuple[str, ...]]] = ()
    hidden_columns: Sequence[str] = field(default=())


SESSION_KPIS_VIEW = RowsView(
    table=SESSION_KPIS,
    sort_keys=("smf_instance",),
    aggregates=(
        ("attempts", "attempts", "sum"),
        ("successes", "successes", "sum"),
        ("failures", "failures", "sum"),
        ("no_response", "no_response", "sum"),
        ("max_p95_latency", "p95_latency", "max"),
    ),
    distinct_counts=("smf_instance",),
    rates=(("setup_success_rate", ("successes",), ("attempts",)),),
)
CELL_THROUGHPUT_VIEW = RowsView(
    table=CELL_THROUGHPUT,
    sort_keys=("nr_cell_id", "tac"),
    aggregates=(
        ("uplink_octets", "uplink_octets", "sum"),
        ("downlink_octets", "downlink_octets", "sum"),
        ("sessions", "sessions", "sum"),
        ("max_throughput_bps", "throughput_bps", "max"),
        ("max_active_throughput_bps", "active_throughput_bps", "max"),
    ),
    distinct_counts=("nr_cell_id",),
)
NF_HEALTH_VIEW = RowsView(
    table=NF_HEALTH,
    sort_keys=("nf", "instance"),
    aggregates=(
        ("scrapes", "scrapes", "sum"),
        ("expected_scrapes", "expected_scrapes", "sum"),
        ("restarts", "restarts", "sum"),
        ("counter_resets", "counter_resets", "sum"),
        ("quality_issues", "quality_issues", "sum"),
        ("min_availability_pct", "availability_pct", "min"),
    ),
    distinct_counts=("instance",),
    rates=(("availability_pct", ("scrapes",), ("expected_scrapes",)),),
)
DEVICE_HEALTH_VIEW = RowsView(
    table=DEVICE_HEALTH,
    sort_keys=("device",),
    aggregates=(
        ("samples", "samples", "sum"),
        ("reachable_samples", "reachable_samples", "sum"),
        ("unreachable_samples", "unreachable_samples", "sum"),
        ("min_availability_pct", "availability_pct", "min"),
        ("max_cpu_p95", "cpu_p95", "max"),
        ("max_mem_p95", "mem_p95", "max"),
        ("counter_resets", "counter_resets", "sum"),
    ),
    distinct_counts=("device",),
    rates=(
        (
            "availability_pct",
            ("reachable_samples",),
            ("reachable_samples", "unreachable_samples"),
        ),
    ),
)
CONFIG_DRIFT_VIEW = RowsView(
    table=CONFIG_DRIFT,
    sort_keys=("device",),
    aggregates=(
        ("backups", "backups", "sum"),
        ("changes", "changes", "sum"),
        ("unexpected_changes", "unexpected_changes", "sum"),
        ("lines_added", "lines_added", "sum"),
        ("lines_removed", "lines_removed", "sum"),
    ),
    distinct_counts=("device",),
    hidden_columns=("diff",),
)


def _sum_of(table: pa.Table, names: Sequence[str]) -> float | None:
    """Sum the columns ``names`` over every row; None when the table lacks one of them."""
    if any(name not in table.column_names for name in names):
        return None
    return sum(pc.sum(table[name]).as_py() or 0 for name in names)


def summarize(view: RowsView, table: pa.Table | None) -> dict[str, Any]:
    """Return the view's aggregates over ``table`` for the columns it has."""
    rows = 0 if table is None else table.num_rows
    summary: dict[str, Any] = {"rows": rows}
    if table is None or rows == 0:
        return summary
    summary["sites"] = pc.count_distinct(table["site_id"]).as_py()
    summary["dates"] = pc.count_distinct(table["date"]).as_py()
    for name in view.distinct_counts:
        if name in table.column_names:
            summary[f"distinct_{name}"] = pc.count_distinct(table[name]).as_py()
    for output, name, aggregation in view.aggregates:
        if name not in table.column_names:
            continue
        value = getattr(pc, aggregation)(table[name]).as_py()
        summary[output] = round(value, 3) if isinstance(value, float) else value
    for output, numerator, denominator in view.rates:
        top, bottom = _sum_of(table, numerator), _sum_of(table, denominator)
        if top is not None and bottom is not None:
            summary[output] = rate(top, bottom)
    return summary


def list_rows(
    snapshots: Mapping[str, TableSnapshot],
    thresholds: Thresholds,
    *,
    view: RowsView,
    days: int,
    site_id: str | None,
    limit: int,
    filters: Sequence[tuple[str, Any]] = (),
    show_hidden: bool = False,
) -> RowsResponse:
    """Return up to ``limit`` rows of the window, newest date first, with the summary of all
    rows selected.

    ``filters`` pairs a column with the value it must equal. A filter on a column the table
    lacks selects no row.
    """
    snapshot = snapshots[view.table]
    selection = select(snapshot, days, site_id)
    table = selection.rows
    for name, value in filters:
        if table is None or value is None:
            continue
        if name not in table.column_names:
            table = table.slice(0, 0)
        else:
            table = table.filter(pc.field(name) == value)
    if table is not None and not show_hidden:
        table = table.drop_columns([c for c in view.hidden_columns if c in table.column_names])
    total = 0 if table is None else table.num_rows
    listed = [] if table is None else records(sort_rows(table, view.sort_keys).slice(0, limit))
    return RowsResponse(
        source=selection.source,
        columns=columns_of(table, snapshot),
        total_rows=total,
        truncated=total > limit,
        summary=summarize(view, table),
        rows=listed,
    )
