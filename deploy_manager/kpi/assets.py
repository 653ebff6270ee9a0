"""KPI aggregates served to dashboards and SLA reports."""

import time
from datetime import date

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset
from dagster_pyspark import PySparkResource
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from deploy_manager.core5g.marts import REGISTRATION_KPIS_TABLE, SESSION_KPIS_TABLE
from deploy_manager.kpi import marts
from deploy_manager.netops.devices.marts import CONFIG_DRIFT_TABLE, DEVICE_HEALTH_TABLE
from deploy_manager.netops.marts import DEPLOYMENT_METRICS_TABLE, FAILURE_ANALYSIS_TABLE
from deploy_manager.partitions import date_site_partitions, split_partition_keys
from deploy_manager.resources.assets import write_mart_partitions
from deploy_manager.resources.database import PlatformSettings


def read_mart_rectangle(
    spark: SparkSession, table: str, dates: list[date], sites: list[str]
) -> DataFrame:
    """Rows of a Hive mart in the rectangle dates x sites, pruned to those partitions."""
    return spark.table(table).where(F.col("date").isin(dates) & F.col("site_id").isin(sites))


REGISTRATION_COLUMNS = ("total_attempts", "successful", "p95_latency")
SESSION_COLUMNS = ("attempts", "successes", "counter_requests", "counter_successes")


def read_core5g_mart(
    context: AssetExecutionContext,
    spark: SparkSession,
    table: str,
    columns: tuple[str, ...],
    dates: list[date],
    sites: list[str],
) -> DataFrame | None:
    """Rows of a 5G core mart in the rectangle, or None when the table or a column is missing,
    which leaves the 5G columns of site_health_daily NULL."""
    if not spark.catalog.tableExists(table):
        return None
    missing = set(columns) - set(spark.table(table).columns)
    if missing:
        context.log.warning(
            "%s lacks columns %s, so its site_health_daily columns are NULL: materialize it",
            table,
            sorted(missing),
        )
        return None
    return read_mart_rectangle(spark, table, dates, sites)


@asset(
    key=["kpi", "site_health_daily"],
    group_name="kpi",
    deps=[
        ["netops", "ansible_deployment_metrics"],
        ["netops", "deployment_failure_analysis"],
        ["netops", "device_health"],
        ["netops", "config_drift"],
        ["core5g", "registration_kpis"],
        ["core5g", "session_kpis"],
    ],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def site_health_daily(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """A site's day at a glance, one row per (date, site): deployments, failures, device
    health, configuration drift, 5G registrations and session setups, and a health score."""
    started = time.monotonic()
    spark = pyspark.spark_session
    dates, sites = split_partition_keys(context.partition_keys)
    deployments = read_mart_rectangle(spark, DEPLOYMENT_METRICS_TABLE, dates, sites)
    failures = read_mart_rectangle(spark, FAILURE_ANALYSIS_TABLE, dates, sites)
    frame = marts.site_health(
        deployments,
        failures,
        platform.healthy_success_rate,
        platform.critical_success_rate,
        device_health=read_mart_rectangle(spark, DEVICE_HEALTH_TABLE, dates, sites),
        config_drift=read_mart_rectangle(spark, CONFIG_DRIFT_TABLE, dates, sites),
        registrations=read_core5g_mart(
            context, spark, REGISTRATION_KPIS_TABLE, REGISTRATION_COLUMNS, dates, sites
        ),
        sessions=read_core5g_mart(
            context, spark, SESSION_KPIS_TABLE, SESSION_COLUMNS, dates, sites
        ),
    )
    return write_mart_partitions(
        spark, frame, marts.SITE_HEALTH_TABLE, marts.SITE_HEALTH_COLUMNS, dates, sites, started
    )
