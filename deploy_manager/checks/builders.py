"""Builders of the per-(date, site) data-quality checks of the Hive marts and KPI aggregates.

Each builder returns one check (a PartitionCheck) on a mart whose asset key names its Hive table
(``["netops", "ansible_deployment_metrics"]`` is ``netops.ansible_deployment_metrics``). The
checks read the table's ORC files with pyarrow (the ``warehouse`` resource) and the raw layer
with psycopg (the ``raw_db`` resource), so they start no JVM. Wiring a check on a new mart
is one call, for example ``build_rate_checks(["core5g", "registration_kpis"],
["registration_success_rate"])``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from dagster import AssetCheckExecutionContext, AssetCheckSeverity, AssetKey
from psycopg import sql

from deploy_manager.checks.identity import ALL_KINDS, find_identities, validate_kinds
from deploy_manager.checks.partitioned import (
    CheckSeverity,
    PartitionCheck,
    PartitionOutcome,
    PartitionScope,
)
from deploy_manager.resources.warehouse_files import WarehouseFiles

RATE_SEVERITY = CheckSeverity(
    AssetCheckSeverity.ERROR,
    "a percentage outside 0..100 comes from a wrong computation, and the KPIs and the API "
    "would pass it on",
)
KEY_SEVERITY = CheckSeverity(
    AssetCheckSeverity.ERROR,
    "a row with a NULL key cannot be joined, served, or replaced with its partition",
)
RECONCILE_SEVERITY = CheckSeverity(
    AssetCheckSeverity.ERROR,
    "a difference means raw rows were lost or counted twice on the way to the mart",
)
PERCENTILE_SEVERITY = CheckSeverity(
    AssetCheckSeverity.ERROR,
    "a lower percentile above a higher one cannot come from one sample, so the latency "
    "computation is wrong",
)
IDENTITY_SEVERITY = CheckSeverity(
    AssetCheckSeverity.ERROR,
    "a subscriber identity in clear is personal data that must not reach the aggregates or the API",
)

_RESOURCES = frozenset({"warehouse"})
_RESOURCES_WITH_RAW = frozenset({"warehouse", "raw_db"})


def table_name(asset_key: AssetKey | Sequence[str]) -> str:
    """Return the Hive table of a mart asset: its key path joined by dots."""
    return ".".join(AssetKey.from_coercible(asset_key).path)


def _partition_key(day: str, site: str) -> str:
    return f"{day}|{site}"


def _rows_per_partition(table: pa.Table | None, mask: pa.ChunkedArray | None) -> dict[str, int]:
    """Count the rows of ``table`` where ``mask`` is true, per partition key ``date|site``."""
    if table is None or table.num_rows == 0:
        return {}
    selected = table if mask is None else table.filter(pc.fill_null(mask, False))
    if selected.num_rows == 0:
        return {}
    grouped = selected.group_by(["date", "site_id"]).aggregate([([], "count_all")])
    return {
        _partition_key(day, site): count
        for day, site, count in zip(
            grouped["date"].to_pylist(),
            grouped["site_id"].to_pylist(),
            grouped["count_all"].to_pylist(),
            strict=True,
        )
    }


def _require_columns(table: pa.Table | None, qualified_table: str, columns: Sequence[str]) -> None:
    if table is None:
        return
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise KeyError(
            f"columns {missing} are not in {qualified_table} (it has {table.column_names}): "
            "fix the column names given to the check builder"
        )


class _RunReadCache:
    """The mart partitions that the last check read, kept for the next checks of its run.

    The checks of a mart run one after another once the mart is written. A run writes each
    mart once, so those checks read the same rows. Only the last read is kept, also after
    its run ends, until the next read replaces it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._table: pa.Table | None = None

    def read(
        self, context: AssetCheckExecutionContext, qualified_table: str, scope: PartitionScope
    ) -> pa.Table | None:
        key = (context.run.run_id, qualified_table, scope.keys)
        with self._lock:
            if key == self._key:
                return self._table
        warehouse: WarehouseFiles = context.resources.warehouse
        table = warehouse.read_partitions(qualified_table, scope.pairs)
        with self._lock:
            self._key, self._table = key, table
        return table


_run_reads = _RunReadCache()


def _read(
    context: AssetCheckExecutionContext, qualified_table: str, scope: PartitionScope
) -> pa.Table | None:
    return _run_reads.read(context, qualified_table, scope)


def build_rate_checks(
    asset_key: AssetKey | Sequence[str],
    columns: Sequence[str],
    *,
    minimum: float = 0.0,
    maximum: float = 100.0,
    name: str = "rates_in_range",
    severity: CheckSeverity = RATE_SEVERITY,
) -> PartitionCheck:
    """Build the check that every non-NULL value of the rate ``columns`` is in minimum..maximum.

    NULL is allowed, because a rate over no attempts is NULL; NaN and infinities fail.
    """
    qualified = table_name(asset_key)
    columns = list(columns)

    def evaluate(context: AssetCheckExecutionContext, scope: PartitionScope):
        table = _read(context, qualified, scope)
        _require_columns(table, qualified, columns)
        bad_by_column = {}
        for column in columns:
            mask = None
            if table is not None:
                values = pc.cast(table[column], pa.float64())
                mask = pc.or_(
                    pc.or_(pc.less(values, minimum), pc.greater(values, maximum)),
                    pc.is_nan(values),
                )
            bad_by_column[column] = _rows_per_partition(table, mask)
        outcomes = {}
        for key in scope.keys:
            bad = {c: counts.get(key, 0) for c, counts in bad_by_column.items()}
            total = sum(bad.values())
            outcomes[key] = PartitionOutcome(
                passed=total == 0,
                description=(
                    f"all rates within {minimum:g}..{maximum:g}"
                    if total == 0
                    else f"{total} values outside {minimum:g}..{maximum:g}: {bad}"
                ),
                metadata={"out_of_range_by_column": bad},
            )
        return outcomes

    return PartitionCheck(
        AssetKey.from_coercible(asset_key),
        name,
        f"Every value of {', '.join(columns)} lies within {minimum:g}..{maximum:g} or is NULL.",
        severity,
        evaluate,
        _RESOURCES,
    )


def build_key_not_null_checks(
    asset_key: AssetKey | Sequence[str],
    columns: Sequence[str] = (),
    *,
    name: str = "keys_not_null",
    severity: CheckSeverity = KEY_SEVERITY,
) -> PartitionCheck:
    """Build the check that the key ``columns`` are never NULL, and that no row fell into
    Hive's default partition because its ``date`` or ``site_id`` was NULL."""
    qualified = table_name(asset_key)
    columns = list(columns)

    def evaluate(context: AssetCheckExecutionContext, scope: PartitionScope):
        warehouse: WarehouseFiles = context.resources.warehouse
        table = _read(context, qualified, scope)
        _require_columns(table, qualified, columns)
        null_by_column = {
            c: _rows_per_partition(table, None if table is None else pc.is_null(table[c]))
            for c in columns
        }
        outcomes = {}
        for key, (day, site) in zip(scope.keys, scope.pairs, strict=True):
            nulls = {c: counts.get(key, 0) for c, counts in null_by_column.items()}
            nulls["date or site_id"] = warehouse.null_key_partition_rows(qualified, day, site)
            total = sum(nulls.values())
            outcomes[key] = PartitionOutcome(
                passed=total == 0,
                description="no NULL keys" if total == 0 else f"{total} NULL keys: {nulls}",
                metadata={"null_keys_by_column": nulls},
            )
        return outcomes

    return PartitionCheck(
        AssetKey.from_coercible(asset_key),
        name,
        f"The keys date, site_id{''.join(', ' + c for c in columns)} are never NULL.",
        severity,
        evaluate,
        _RESOURCES,
    )


@dataclass(frozen=True)
class RawCount:
    """How to count the raw rows of a partition that a mart column must add up to.

    ``where`` is a SQL condition written in code (never from input). With ``distinct`` the
    count is of distinct value tuples of those columns, for marts that count each
    (run, host, task) once.
    """

    table: str
    distinct: tuple[str, ...] = ()
    where: str | None = None
    date_column: str = "run_date"
    site_column: str = "site_id"

    def query(self) -> sql.Composed:
        day, site = sql.Identifier(self.date_column), sql.Identifier(self.site_column)
        selected = sql.SQL(", ").join([day, site, *(sql.Identifier(c) for c in self.distinct)])
        condition = sql.SQL("{} = ANY(%s) AND {} = ANY(%s)").format(day, site)
        if self.where:
            condition = sql.SQL("{} AND ({})").format(condition, sql.SQL(self.where))
        source = sql.SQL("SELECT {} {} FROM {} WHERE {}").format(
            sql.SQL("DISTINCT") if self.distinct else sql.SQL(""),
            selected,
            sql.Identifier("raw", self.table),
            condition,
        )
        return sql.SQL(
            "SELECT {day}, {site}, count(*) FROM ({source}) AS counted GROUP BY {day}, {site}"
        ).format(day=day, site=site, source=source)

    def describe(self) -> str:
        counted = f"distinct ({', '.join(self.distinct)})" if self.distinct else "rows"
        where = f" where {self.where}" if self.where else ""
        return f"{counted} of raw.{self.table}{where}"


def build_reconcile_check(
    asset_key: AssetKey | Sequence[str],
    mart_column: str,
    raw: RawCount,
    *,
    name: str | None = None,
    severity: CheckSeverity = RECONCILE_SEVERITY,
) -> PartitionCheck:
    """Build the check that ``mart_column`` summed over a partition equals the raw rows
    counted by ``raw`` in the same partition, so every raw row is counted in one mart row.

    Raw rows that ingest quarantined never reach the raw tables, so they are outside both
    sides of the comparison.
    """
    qualified = table_name(asset_key)

    def evaluate(context: AssetCheckExecutionContext, scope: PartitionScope):
        table = _read(context, qualified, scope)
        _require_columns(table, qualified, [mart_column])
        mart_totals: dict[str, int] = {}
        if table is not None and table.num_rows:
            grouped = table.group_by(["date", "site_id"]).aggregate([(mart_column, "sum")])
            for day, site, total in zip(
                grouped["date"].to_pylist(),
                grouped["site_id"].to_pylist(),
                grouped[f"{mart_column}_sum"].to_pylist(),
                strict=True,
            ):
                mart_totals[_partition_key(day, site)] = int(total or 0)
        with context.resources.raw_db.connect() as conn:
            rows = conn.execute(raw.query(), (scope.dates, scope.sites)).fetchall()
        raw_totals = {_partition_key(d.isoformat(), s): n for d, s, n in rows}
        context.log.info(
            "read %d raw partition counts of raw.%s for %d partitions",
            len(rows),
            raw.table,
            len(scope.keys),
        )
        outcomes = {}
        for key in scope.keys:
            mart_total, raw_total = mart_totals.get(key, 0), raw_totals.get(key, 0)
            outcomes[key] = PartitionOutcome(
                passed=mart_total == raw_total,
                description=(
                    f"sum of {mart_column} = {mart_total}, {raw.describe()} = {raw_total}"
                ),
                metadata={
                    "mart_total": mart_total,
                    "raw_total": raw_total,
                    "difference": mart_total - raw_total,
                },
            )
        return outcomes

    return PartitionCheck(
        AssetKey.from_coercible(asset_key),
        name or f"reconcile_{mart_column}",
        f"The sum of {mart_column} per partition equals the {raw.describe()} in the partition.",
        severity,
        evaluate,
        _RESOURCES_WITH_RAW,
    )


def build_percentile_order_checks(
    asset_key: AssetKey | Sequence[str],
    ordered_columns: Sequence[str],
    *,
    name: str = "percentiles_ordered",
    severity: CheckSeverity = PERCENTILE_SEVERITY,
) -> PartitionCheck:
    """Build the check that percentiles never decrease from one column to the next, for
    example ``["p95_latency", "p99_latency"]``. Rows with a NULL are skipped."""
    qualified = table_name(asset_key)
    columns = list(ordered_columns)
    if len(columns) < 2:
        raise ValueError(
            f"ordered_columns={columns!r} is invalid: give at least two percentile columns, "
            "lowest percentile first"
        )
    pairs = list(itertools.pairwise(columns))

    def evaluate(context: AssetCheckExecutionContext, scope: PartitionScope):
        table = _read(context, qualified, scope)
        _require_columns(table, qualified, columns)
        bad_by_pair = {
            f"{low} > {high}": _rows_per_partition(
                table, None if table is None else pc.greater(table[low], table[high])
            )
            for low, high in pairs
        }
        outcomes = {}
        for key in scope.keys:
            bad = {pair: counts.get(key, 0) for pair, counts in bad_by_pair.items()}
            total = sum(bad.values())
            outcomes[key] = PartitionOutcome(
                passed=total == 0,
                description="percentiles ordered" if total == 0 else f"{total} rows: {bad}",
                metadata={"unordered_rows_by_pair": bad},
            )
        return outcomes

    return PartitionCheck(
        AssetKey.from_coercible(asset_key),
        name,
        f"In every row {' <= '.join(columns)} where both sides are present.",
        severity,
        evaluate,
        _RESOURCES,
    )


def build_identity_checks(
    asset_key: AssetKey | Sequence[str],
    *,
    kinds: Sequence[str] = ALL_KINDS,
    columns: Sequence[str] | None = None,
    name: str = "no_identity_in_clear",
    severity: CheckSeverity = IDENTITY_SEVERITY,
) -> PartitionCheck:
    """Build the check that no string column (or only ``columns``) contains a subscriber
    identity in clear. ``kinds`` selects the patterns of deploy_manager.checks.identity."""
    qualified = table_name(asset_key)
    kinds = validate_kinds(kinds)

    def evaluate(context: AssetCheckExecutionContext, scope: PartitionScope):
        table = _read(context, qualified, scope)
        found: dict[str, dict[str, int]] = {}
        if table is not None:
            scanned = (
                list(columns)
                if columns is not None
                else [
                    f.name
                    for f in table.schema
                    if pa.types.is_string(f.type) and f.name not in ("date", "site_id")
                ]
            )
            _require_columns(table, qualified, scanned)
            keys = [
                _partition_key(d, s)
                for d, s in zip(
                    table["date"].to_pylist(), table["site_id"].to_pylist(), strict=True
                )
            ]
            for column in scanned:
                for key, value in zip(keys, table[column].to_pylist(), strict=True):
                    for kind in find_identities([value], kinds):
                        per_key = found.setdefault(key, {})
                        label = f"{column}:{kind}"
                        per_key[label] = per_key.get(label, 0) + 1
        outcomes = {}
        for key in scope.keys:
            hits = found.get(key, {})
            outcomes[key] = PartitionOutcome(
                passed=not hits,
                description=(
                    "no identity in clear"
                    if not hits
                    else f"identities in clear (column:kind = values): {hits}"
                ),
                # Counts only: the matching values are the personal data being reported.
                metadata={"identities_by_column_and_kind": hits},
            )
        return outcomes

    return PartitionCheck(
        AssetKey.from_coercible(asset_key),
        name,
        f"No string value contains a subscriber identity in clear ({', '.join(kinds)}).",
        severity,
        evaluate,
        _RESOURCES,
    )
