"""Spark transformations from the device raw tables to the device health and drift marts.

Every function takes the raw rows of a rectangle of (date, site) partitions and returns mart
rows for the same partitions, so running it on one partition or on many gives the same rows
for each partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from deploy_manager.netops.devices.drift import DEFAULT_MAX_DIFF_CHARS
from deploy_manager.netops.devices.metrics import CUMULATIVE, PER_SECOND
from deploy_manager.netops.marts import rate

CONFIG_DRIFT_TABLE = "netops.config_drift"
CONFIG_DRIFT_RAW_COLUMNS = [
    "device",
    "site_id",
    "event_date",
    "backup_time",
    "role",
    "drift_vs_previous",
    "volatile_only_change",
    "drift_vs_golden",
    "golden_lines_added",
    "golden_lines_removed",
    "lines_added",
    "lines_removed",
    "diff",
    "diff_truncated",
    "expected",
    "deployment_run_id",
]
CONFIG_DRIFT_COLUMNS = [
    ("device", "STRING"),
    ("role", "STRING"),
    ("backups", "BIGINT"),
    ("last_backup_at", "TIMESTAMP"),
    ("drift_vs_previous", "BOOLEAN"),
    ("changes", "BIGINT"),
    ("volatile_only_changes", "BIGINT"),
    ("drift_vs_golden", "BOOLEAN"),
    ("golden_lines_added", "INT"),
    ("golden_lines_removed", "INT"),
    ("lines_added", "BIGINT"),
    ("lines_removed", "BIGINT"),
    ("expected", "BOOLEAN"),
    ("unexpected_changes", "BIGINT"),
    ("deployment_run_id", "STRING"),
    ("diff", "STRING"),
    ("diff_truncated", "BOOLEAN"),
    ("processed_at", "TIMESTAMP"),
]

DEVICE_HEALTH_TABLE = "netops.device_health"
DEVICE_METRICS_RAW_COLUMNS = [
    "device",
    "site_id",
    "event_date",
    "sample_time",
    "cpu_pct",
    "mem_pct",
    "if_in_errors",
    "if_out_errors",
    "if_in_discards",
    "if_out_discards",
    "counter_kind",
    "reachable",
    "quality_flags",
]
DEVICE_HEALTH_COLUMNS = [
    ("device", "STRING"),
    ("samples", "BIGINT"),
    ("reachable_samples", "BIGINT"),
    ("unreachable_samples", "BIGINT"),
    ("availability_pct", "DOUBLE"),
    ("cpu_p50", "DOUBLE"),
    ("cpu_p95", "DOUBLE"),
    ("cpu_max", "DOUBLE"),
    ("mem_p50", "DOUBLE"),
    ("mem_p95", "DOUBLE"),
    ("mem_max", "DOUBLE"),
    ("if_errors_per_hour", "DOUBLE"),
    ("if_discards_per_hour", "DOUBLE"),
    ("counter_resets", "BIGINT"),
    ("quality_flagged_samples", "BIGINT"),
    ("processed_at", "TIMESTAMP"),
]

ERROR_COUNTERS = ("if_in_errors", "if_out_errors")
DISCARD_COUNTERS = ("if_in_discards", "if_out_discards")


# Configuration drift.


def bounded_diff(diff: Column, max_chars: int = DEFAULT_MAX_DIFF_CHARS) -> Column:
    """Cut a diff to at most ``max_chars`` characters at the end of a line.

    The diffs of raw.config_drift end every line with LF, so the cut keeps whole lines.
    """
    head = F.substring(diff, 1, max_chars)
    partial_line = F.substring_index(head, "\n", -1)
    whole_lines = head.substr(F.lit(1), F.length(head) - F.length(partial_line))
    return F.when(F.length(diff) <= max_chars, diff).otherwise(whole_lines)


def config_drift_daily(drift: DataFrame) -> DataFrame:
    """Roll the per-backup rows of raw.config_drift up to one row per (date, site, device).

    With one backup a day the row is that backup's comparison. With several, the day drifted
    when any backup differed from its previous one, line counts are summed, the diffs are
    joined in backup order, and the golden comparison and role are those of the last backup.
    ``expected`` is NULL without a change, true when a deployment explains every change of
    the day and false otherwise.
    """
    changed = F.col("drift_vs_previous")
    ordered_diffs = F.array_join(
        F.transform(
            F.array_sort(F.collect_list(F.struct("backup_time", "diff"))),
            lambda backup: backup["diff"],
        ),
        "",
    )
    daily = drift.groupBy(F.col("event_date").alias("date"), "site_id", "device").agg(
        F.max_by("role", "backup_time").alias("role"),
        F.count("*").alias("backups"),
        F.max("backup_time").alias("last_backup_at"),
        F.max(changed).alias("drift_vs_previous"),
        F.count(F.when(changed, 1)).alias("changes"),
        F.count(F.when(F.col("volatile_only_change"), 1)).alias("volatile_only_changes"),
        F.max_by("drift_vs_golden", "backup_time").alias("drift_vs_golden"),
        F.max_by("golden_lines_added", "backup_time").alias("golden_lines_added"),
        F.max_by("golden_lines_removed", "backup_time").alias("golden_lines_removed"),
        F.sum("lines_added").cast("long").alias("lines_added"),
        F.sum("lines_removed").cast("long").alias("lines_removed"),
        F.count(F.when(changed & ~F.col("expected"), 1)).alias("unexpected_changes"),
        F.max_by(
            "deployment_run_id",
            F.when(F.col("deployment_run_id").isNotNull(), F.col("backup_time")),
        ).alias("deployment_run_id"),
        ordered_diffs.alias("joined_diff"),
        F.max("diff_truncated").alias("any_diff_truncated"),
    )
    joined = F.when(F.col("joined_diff") != "", F.col("joined_diff"))
    cut = F.coalesce(F.length(joined) > DEFAULT_MAX_DIFF_CHARS, F.lit(False))
    return (
        daily.withColumn("expected", F.when(F.col("changes") > 0, F.col("unexpected_changes") == 0))
        .withColumn("diff", bounded_diff(joined))
        .withColumn("diff_truncated", F.col("any_diff_truncated") | cut)
        .drop("joined_diff", "any_diff_truncated")
        .withColumn("processed_at", F.current_timestamp())
    )


# Device health.


def with_previous_days(dates: Sequence[date]) -> list[date]:
    """Return ``dates`` and the day before each, sorted and without repeats."""
    return sorted(set(dates) | {day - timedelta(days=1) for day in dates})


def counter_intervals(samples: DataFrame, counter: str) -> DataFrame:
    """Add ``<counter>_events``, ``<counter>_seconds`` and ``<counter>_reset`` to each sample.

    An interval runs from the device's previous sample with a value of ``counter`` to this
    sample. For a cumulative counter its events are the increase, and a decrease is a
    counter reset (a reboot), after which the counter counted up from 0, so the events are
    the new value. For a per-second counter the events are the rate times the interval.
    Intervals never span two sites or two counter kinds.
    """
    earlier = (
        Window.partitionBy("device", "site_id", "counter_kind")
        .orderBy("sample_time")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    value = F.col(counter)
    previous_value = F.last(value, ignorenulls=True).over(earlier)
    previous_time = F.last(F.when(value.isNotNull(), F.col("sample_time")), ignorenulls=True).over(
        earlier
    )
    seconds = F.when(
        value.isNotNull() & previous_time.isNotNull(),
        F.col("sample_time").cast("double") - previous_time.cast("double"),
    )
    cumulative = F.col("counter_kind") == CUMULATIVE
    reset = cumulative & (value < previous_value)
    events = (
        F.when(seconds.isNull(), None)
        .when(cumulative & reset, value)
        .when(cumulative, value - previous_value)
        .when(F.col("counter_kind") == PER_SECOND, value * seconds)
    )
    return (
        samples.withColumn(f"{counter}_seconds", seconds)
        .withColumn(f"{counter}_events", events)
        .withColumn(f"{counter}_reset", F.coalesce(reset & seconds.isNotNull(), F.lit(False)))
    )


def per_hour(counters: Sequence[str]) -> Column:
    """Return the sum of the hourly rates of ``counters``, or NULL when none has an interval.

    Each rate is the counter's events over the seconds its intervals cover, so a gap in
    the samples widens one interval and leaves the rate unbiased.
    """
    rates = [
        F.when(
            F.col(f"{c}_seconds_total") > 0,
            F.col(f"{c}_events_total") * 3600.0 / F.col(f"{c}_seconds_total"),
        )
        for c in counters
    ]
    present = F.greatest(*[r.isNotNull().cast("int") for r in rates])
    total = sum((F.coalesce(r, F.lit(0.0)) for r in rates[1:]), F.coalesce(rates[0], F.lit(0.0)))
    return F.when(present == 1, F.round(total, 4))


def device_health_daily(samples: DataFrame, dates: Sequence[date]) -> DataFrame:
    """Roll the samples of raw.device_metrics up to one row per (date, site, device).

    ``samples`` also contains the day before each date, whose samples only start the first
    interval of the counters. Availability is the share of samples with a known reachability
    that were reachable. Percentiles are exact and interpolate linearly between samples, as
    PostgreSQL's percentile_cont does.
    """
    counters = ERROR_COUNTERS + DISCARD_COUNTERS
    with_intervals = samples
    for counter in counters:
        with_intervals = counter_intervals(with_intervals, counter)
    reset_any = F.greatest(*[F.col(f"{c}_reset").cast("int") for c in counters])
    in_dates = with_intervals.where(F.col("event_date").isin(list(dates)))
    daily = in_dates.groupBy(F.col("event_date").alias("date"), "site_id", "device").agg(
        F.count("*").alias("samples"),
        F.count(F.when(F.col("reachable"), 1)).alias("reachable_samples"),
        F.count(F.when(~F.col("reachable"), 1)).alias("unreachable_samples"),
        F.percentile("cpu_pct", 0.5).alias("cpu_p50"),
        F.percentile("cpu_pct", 0.95).alias("cpu_p95"),
        F.max("cpu_pct").alias("cpu_max"),
        F.percentile("mem_pct", 0.5).alias("mem_p50"),
        F.percentile("mem_pct", 0.95).alias("mem_p95"),
        F.max("mem_pct").alias("mem_max"),
        F.sum(reset_any).cast("long").alias("counter_resets"),
        F.count(F.when(F.size("quality_flags") > 0, 1)).alias("quality_flagged_samples"),
        *[F.sum(f"{c}_events").alias(f"{c}_events_total") for c in counters],
        *[F.sum(f"{c}_seconds").alias(f"{c}_seconds_total") for c in counters],
    )
    known = F.col("reachable_samples") + F.col("unreachable_samples")
    return (
        daily.withColumn("availability_pct", rate(F.col("reachable_samples"), known))
        .withColumn("if_errors_per_hour", per_hour(ERROR_COUNTERS))
        .withColumn("if_discards_per_hour", per_hour(DISCARD_COUNTERS))
        .drop(*[f"{c}_events_total" for c in counters], *[f"{c}_seconds_total" for c in counters])
        .withColumn("processed_at", F.current_timestamp())
    )
