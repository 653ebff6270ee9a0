"""Spark roll-ups from the domain marts to the KPI aggregates."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from deploy_manager.netops.marts import rate, status_from_rate

SITE_HEALTH_TABLE = "kpi.site_health_daily"
SITE_HEALTH_COLUMNS = [
    ("total_executions", "BIGINT"),
    ("successful", "BIGINT"),
    ("failed", "BIGINT"),
    ("incomplete", "BIGINT"),
    ("success_rate", "DOUBLE"),
    ("host_success_rate", "DOUBLE"),
    ("avg_duration", "DOUBLE"),
    ("playbooks", "BIGINT"),
    ("failure_count", "BIGINT"),
    ("error_groups", "BIGINT"),
    ("top_error", "STRING"),
    ("deployment_status", "STRING"),
    ("processed_at", "TIMESTAMP"),
]


def site_health(
    deployments: DataFrame, failures: DataFrame, healthy: float, critical: float
) -> DataFrame:
    """One row per (date, site): the NetOps side of a site's day.

    Rates are recomputed from the summed counts, and the mean duration is weighted by the
    finished runs of each playbook, so the roll-up equals a computation over the raw runs.
    """
    finished = F.col("successful") + F.col("failed")
    netops = deployments.groupBy("date", "site_id").agg(
        F.sum("total_executions").alias("total_executions"),
        F.sum("successful").alias("successful"),
        F.sum("failed").alias("failed"),
        F.sum("incomplete").alias("incomplete"),
        F.sum("host_successes").alias("host_successes"),
        F.sum("host_executions").alias("host_executions"),
        F.sum(F.col("avg_duration") * finished).alias("duration_total"),
        F.sum(F.when(F.col("avg_duration").isNotNull(), finished)).alias("duration_runs"),
        F.countDistinct("playbook").alias("playbooks"),
    )
    ranked = failures.withColumn(
        "rank",
        F.row_number().over(
            Window.partitionBy("date", "site_id").orderBy(
                F.desc("failure_count"), F.asc("error_message")
            )
        ),
    )
    failure_totals = ranked.groupBy("date", "site_id").agg(
        F.sum("failure_count").alias("failure_count"),
        F.countDistinct("error_message").alias("error_groups"),
        F.max(F.when(F.col("rank") == 1, F.col("error_message"))).alias("top_error"),
    )
    joined = netops.join(failure_totals, ["date", "site_id"], "full_outer")
    success_rate = rate(F.col("successful"), F.col("successful") + F.col("failed"))
    return (
        joined.fillna(
            0,
            subset=[
                "total_executions",
                "successful",
                "failed",
                "incomplete",
                "failure_count",
                "error_groups",
                "playbooks",
            ],
        )
        .withColumn("success_rate", success_rate)
        .withColumn("host_success_rate", rate(F.col("host_successes"), F.col("host_executions")))
        .withColumn(
            "avg_duration",
            F.when(
                F.col("duration_runs") > 0,
                F.round(F.col("duration_total") / F.col("duration_runs"), 3),
            ),
        )
        .withColumn("deployment_status", status_from_rate(F.col("success_rate"), healthy, critical))
        .withColumn("processed_at", F.current_timestamp())
    )
