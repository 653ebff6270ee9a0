"""Spark roll-ups from the domain marts to the KPI aggregates."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
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
    ("devices_monitored", "BIGINT"),
    ("device_samples", "BIGINT"),
    ("device_availability_pct", "DOUBLE"),
    ("min_device_availability_pct", "DOUBLE"),
    ("max_cpu_p95", "DOUBLE"),
    ("max_mem_p95", "DOUBLE"),
    ("if_errors_per_hour", "DOUBLE"),
    ("if_discards_per_hour", "DOUBLE"),
    ("devices_backed_up", "BIGINT"),
    ("devices_changed", "BIGINT"),
    ("expected_drift_devices", "BIGINT"),
    ("unexpected_drift_devices", "BIGINT"),
    ("devices_off_golden", "BIGINT"),
    ("reg_attempts", "BIGINT"),
    ("reg_success_rate", "DOUBLE"),
    ("reg_p95_latency", "DOUBLE"),
    ("session_setup_success_rate", "DOUBLE"),
    ("deployment_score", "DOUBLE"),
    ("drift_score", "DOUBLE"),
    ("device_score", "DOUBLE"),
    ("registration_score", "DOUBLE"),
    ("health_score", "DOUBLE"),
    ("processed_at", "TIMESTAMP"),
]

# Weights of the health score components. A component without data for a (date, site) is
# left out and the others are re-weighted, so the score stays on 0..100 (see the README,
# "Site health score").
HEALTH_SCORE_WEIGHTS = {
    "deployment_score": 0.30,
    "device_score": 0.30,
    "drift_score": 0.20,
    "registration_score": 0.20,
}


def device_totals(device_health: DataFrame) -> DataFrame:
    """Roll the per-device rows of netops.device_health up to one row per (date, site).

    Availability is recomputed from the summed sample counts. Error and discard rates are
    the sums of the devices' rates.
    """
    known = F.col("reachable_samples") + F.col("unreachable_samples")
    return (
        device_health.groupBy("date", "site_id")
        .agg(
            F.countDistinct("device").alias("devices_monitored"),
            F.sum("samples").alias("device_samples"),
            F.sum("reachable_samples").alias("reachable_samples"),
            F.sum(known).alias("known_samples"),
            F.min("availability_pct").alias("min_device_availability_pct"),
            F.max("cpu_p95").alias("max_cpu_p95"),
            F.max("mem_p95").alias("max_mem_p95"),
            F.sum("if_errors_per_hour").alias("if_errors_per_hour"),
            F.sum("if_discards_per_hour").alias("if_discards_per_hour"),
        )
        .withColumn(
            "device_availability_pct", rate(F.col("reachable_samples"), F.col("known_samples"))
        )
        .drop("reachable_samples", "known_samples")
    )


def drift_totals(config_drift: DataFrame) -> DataFrame:
    """Roll the per-device rows of netops.config_drift up to one row per (date, site)."""
    return config_drift.groupBy("date", "site_id").agg(
        F.countDistinct("device").alias("devices_backed_up"),
        F.count(F.when(F.col("changes") > 0, 1)).alias("devices_changed"),
        F.count(F.when(F.col("expected"), 1)).alias("expected_drift_devices"),
        F.count(F.when(~F.col("expected"), 1)).alias("unexpected_drift_devices"),
        F.count(F.when(F.col("drift_vs_golden"), 1)).alias("devices_off_golden"),
    )


def registration_totals(registrations: DataFrame) -> DataFrame:
    """Roll the per-AMF rows of core5g.registration_kpis up to one row per (date, site).

    The success rate is recomputed from the summed attempts and successes, and it is also the
    registration_score. A site-wide percentile cannot be rebuilt from per-AMF percentiles, so
    reg_p95_latency is the highest p95 latency of the site's AMFs.
    """
    grouped = registrations.groupBy("date", "site_id").agg(
        F.sum("total_attempts").alias("reg_attempts"),
        F.sum("successful").alias("reg_successes"),
        F.max("p95_latency").alias("reg_p95_latency"),
    )
    success_rate = rate(F.col("reg_successes"), F.col("reg_attempts"))
    return grouped.select(
        "date",
        "site_id",
        "reg_attempts",
        success_rate.alias("reg_success_rate"),
        "reg_p95_latency",
        success_rate.alias("registration_score"),
    )


def session_totals(sessions: DataFrame) -> DataFrame:
    """Roll the per-SMF rows of core5g.session_kpis up to one row per (date, site).

    session_setup_success_rate = accepted / attempted PDU session setups x 100 from the SMF
    logs. A site whose SMFs logged no attempt takes the rate from the SMF counters instead.
    """
    grouped = sessions.groupBy("date", "site_id").agg(
        F.sum("attempts").alias("attempts"),
        F.sum("successes").alias("successes"),
        F.sum("counter_requests").alias("counter_requests"),
        F.sum("counter_successes").alias("counter_successes"),
    )
    return grouped.select(
        "date",
        "site_id",
        F.coalesce(
            rate(F.col("successes"), F.col("attempts")),
            rate(F.col("counter_successes"), F.col("counter_requests")),
        ).alias("session_setup_success_rate"),
    )


def health_score(weights: Mapping[str, float] = HEALTH_SCORE_WEIGHTS) -> Column:
    """Return the weighted mean of the score columns in ``weights`` that are not NULL.

    The result is NULL when every component is NULL, and rounded to 2 decimals otherwise.
    """
    weighted_sum = sum(
        (F.coalesce(F.col(name) * weight, F.lit(0.0)) for name, weight in weights.items()),
        F.lit(0.0),
    )
    weight_total = sum(
        (
            F.when(F.col(name).isNotNull(), weight).otherwise(0.0)
            for name, weight in weights.items()
        ),
        F.lit(0.0),
    )
    return F.when(weight_total > 0, F.round(weighted_sum / weight_total, 2))


def with_scores(site_days: DataFrame) -> DataFrame:
    """Add the component scores and the health score to the rows of site_health."""
    backed_up = F.col("devices_backed_up")
    return (
        site_days.withColumn("deployment_score", F.col("success_rate"))
        .withColumn(
            "drift_score",
            rate(backed_up - F.col("unexpected_drift_devices"), backed_up),
        )
        .withColumn("device_score", F.col("device_availability_pct"))
        .withColumn("health_score", health_score())
    )


def site_health(
    deployments: DataFrame,
    failures: DataFrame,
    healthy: float,
    critical: float,
    *,
    device_health: DataFrame,
    config_drift: DataFrame,
    registrations: DataFrame | None = None,
    sessions: DataFrame | None = None,
) -> DataFrame:
    """Roll the domain marts up to one row per (date, site): deployments, device health,
    configuration drift and the health score of a site's day.

    Rates are recomputed from the summed counts, and the mean duration is weighted by the
    finished runs of each playbook, so the roll-up equals a computation over the raw runs.
    ``registrations`` contains the rows of core5g.registration_kpis and ``sessions`` those of
    core5g.session_kpis. Without them the 5G columns and registration_score are NULL.
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
    joined = (
        netops.join(failure_totals, ["date", "site_id"], "full_outer")
        .join(device_totals(device_health), ["date", "site_id"], "full_outer")
        .join(drift_totals(config_drift), ["date", "site_id"], "full_outer")
    )
    if registrations is None:
        joined = (
            joined.withColumn("reg_attempts", F.lit(None).cast("long"))
            .withColumn("reg_success_rate", F.lit(None).cast("double"))
            .withColumn("reg_p95_latency", F.lit(None).cast("double"))
            .withColumn("registration_score", F.lit(None).cast("double"))
        )
    else:
        joined = joined.join(registration_totals(registrations), ["date", "site_id"], "full_outer")
    if sessions is None:
        joined = joined.withColumn("session_setup_success_rate", F.lit(None).cast("double"))
    else:
        joined = joined.join(session_totals(sessions), ["date", "site_id"], "full_outer")
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
                "devices_monitored",
                "device_samples",
                "devices_backed_up",
                "devices_changed",
                "expected_drift_devices",
                "unexpected_drift_devices",
                "devices_off_golden",
                "reg_attempts",
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
        .transform(with_scores)
        .withColumn("processed_at", F.current_timestamp())
    )
