"""Spark transformations from the Ansible raw tables to the NetOps marts.

Every function takes the raw rows of a rectangle of (date, site) partitions and returns mart
rows for the same partitions, so running it on one partition or on many gives the same rows
for each partition.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

DEPLOYMENT_METRICS_TABLE = "netops.ansible_deployment_metrics"
DEPLOYMENT_METRICS_COLUMNS = [
    ("playbook", "STRING"),
    ("total_executions", "BIGINT"),
    ("successful", "BIGINT"),
    ("failed", "BIGINT"),
    ("incomplete", "BIGINT"),
    ("success_rate", "DOUBLE"),
    ("host_executions", "BIGINT"),
    ("host_successes", "BIGINT"),
    ("host_success_rate", "DOUBLE"),
    ("avg_duration", "DOUBLE"),
    ("deployment_status", "STRING"),
    ("processed_at", "TIMESTAMP"),
]

FAILURE_ANALYSIS_TABLE = "netops.deployment_failure_analysis"
FAILURE_ANALYSIS_COLUMNS = [
    ("playbook", "STRING"),
    ("error_message", "STRING"),
    ("failure_count", "BIGINT"),
    ("hosts_affected", "BIGINT"),
    ("example_message", "STRING"),
    ("last_failure_at", "TIMESTAMP"),
    ("last_failure_date", "DATE"),
    ("processed_at", "TIMESTAMP"),
]

# Outcomes that count as failures: not ignored, not rescued.
FAILURE_OUTCOMES = ("failed", "unreachable")
NO_MESSAGE = "<no error message>"


def rate(numerator: Column, denominator: Column) -> Column:
    """Percentage rounded to 2 decimals; NULL when the denominator is 0."""
    return F.when(denominator > 0, F.round(numerator * 100.0 / denominator, 2))


def status_from_rate(success_rate: Column, healthy: float, critical: float) -> Column:
    """healthy at or above ``healthy`` %, critical below ``critical`` %, degraded between,
    unknown without finished runs."""
    return (
        F.when(success_rate.isNull(), F.lit("unknown"))
        .when(success_rate >= healthy, F.lit("healthy"))
        .when(success_rate >= critical, F.lit("degraded"))
        .otherwise(F.lit("critical"))
    )


def run_site_outcomes(run_sites: DataFrame, host_stats: DataFrame) -> DataFrame:
    """One row per (run, site): whether every host of that site succeeded in the run.

    Only runs whose completeness is 'complete' can succeed or fail; the others are counted
    as incomplete and never as successes.
    """
    hosts = host_stats.groupBy("run_id", "site_id").agg(
        F.count("*").alias("hosts"),
        F.sum(F.col("succeeded").cast("int")).alias("hosts_ok"),
    )
    joined = run_sites.join(hosts, ["run_id", "site_id"], "left")
    complete = (F.col("completeness") == "complete") & F.col("hosts").isNotNull()
    return joined.select(
        F.col("run_date").alias("date"),
        "site_id",
        "playbook",
        "run_id",
        "duration_seconds",
        complete.alias("finished"),
        (complete & (F.col("hosts_ok") == F.col("hosts"))).alias("succeeded"),
        F.when(complete, F.col("hosts")).alias("hosts"),
        F.when(complete, F.col("hosts_ok")).alias("hosts_ok"),
    )


def deployment_metrics(
    run_sites: DataFrame, host_stats: DataFrame, healthy: float, critical: float
) -> DataFrame:
    """Deployment counts and rates per (date, site, playbook)."""
    runs = run_site_outcomes(run_sites, host_stats)
    grouped = runs.groupBy("date", "site_id", "playbook").agg(
        F.count("*").alias("total_executions"),
        F.sum(F.col("succeeded").cast("long")).alias("successful"),
        F.sum((F.col("finished") & ~F.col("succeeded")).cast("long")).alias("failed"),
        F.sum((~F.col("finished")).cast("long")).alias("incomplete"),
        F.coalesce(F.sum("hosts"), F.lit(0)).cast("long").alias("host_executions"),
        F.coalesce(F.sum("hosts_ok"), F.lit(0)).cast("long").alias("host_successes"),
        F.round(F.avg(F.when(F.col("finished"), F.col("duration_seconds"))), 3).alias(
            "avg_duration"
        ),
    )
    success_rate = rate(F.col("successful"), F.col("successful") + F.col("failed"))
    return (
        grouped.withColumn("success_rate", success_rate)
        .withColumn("host_success_rate", rate(F.col("host_successes"), F.col("host_executions")))
        .withColumn("deployment_status", status_from_rate(F.col("success_rate"), healthy, critical))
        .withColumn("processed_at", F.current_timestamp())
    )


def failure_results(host_results: DataFrame) -> DataFrame:
    """Failed and unreachable results, one per (run, host, task), never per loop item."""
    return host_results.where(F.col("outcome").isin(*FAILURE_OUTCOMES)).dropDuplicates(
        ["run_id", "host", "task_id"]
    )


def failure_analysis(host_results: DataFrame) -> DataFrame:
    """Failures per (date, site, playbook, normalised error message)."""
    failures = failure_results(host_results).select(
        F.col("run_date").alias("date"),
        "site_id",
        "playbook",
        "host",
        "event_created",
        F.coalesce("error_normalised", F.lit(NO_MESSAGE)).alias("error_message"),
        F.coalesce("error_message", F.lit(NO_MESSAGE)).alias("original_message"),
    )
    return (
        failures.groupBy("date", "site_id", "playbook", "error_message")
        .agg(
            F.count("*").alias("failure_count"),
            F.countDistinct("host").alias("hosts_affected"),
            F.min("original_message").alias("example_message"),
            F.max("event_created").alias("last_failure_at"),
        )
        .withColumn("last_failure_date", F.to_date("last_failure_at"))
        .withColumn("processed_at", F.current_timestamp())
    )
