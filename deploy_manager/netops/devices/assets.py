"""Device assets: the device raw tables per partition and the device health and drift marts."""

import time

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset
from dagster_pyspark import PySparkResource

from deploy_manager.netops.devices import marts
from deploy_manager.partitions import date_site_partitions, split_partition_keys
from deploy_manager.resources.assets import build_raw_count_assets, write_mart_partitions
from deploy_manager.resources.database import PlatformSettings
from deploy_manager.resources.warehouse import read_raw_rectangle

RAW_TABLES = {
    "device_metrics": "Network monitor samples: one row per (device, sample time) with CPU, "
    "memory, interface error and discard counters and reachability.",
    "config_backups": "Configuration backups: one row per (device, backup time) with the raw "
    "and normalised hashes and the configuration text.",
    "config_drift": "Each configuration backup compared with the device's previous backup and "
    "its role's golden configuration: one row per (device, backup time).",
}


device_raw_tables = build_raw_count_assets(
    "device_raw_tables",
    RAW_TABLES,
    "Count the raw device rows of each requested (date, site) partition in PostgreSQL.\n\n"
    "The rows arrive through the landing ingest. This step records, per partition, what the\n"
    "device marts downstream will read.",
)


@asset(
    key=["netops", "config_drift"],
    group_name="netops",
    deps=[["raw", "config_drift"]],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def config_drift(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """Configuration drift per (date, site, device): change against the previous backup and
    the golden configuration, lines added and removed, whether a deployment explains it and a
    bounded diff, from raw.config_drift."""
    started = time.monotonic()
    spark = pyspark.spark_session
    dates, sites = split_partition_keys(context.partition_keys)
    drift = read_raw_rectangle(
        spark,
        platform.jdbc_url,
        "config_drift",
        marts.CONFIG_DRIFT_RAW_COLUMNS,
        dates,
        sites,
        date_column="event_date",
    )
    frame = marts.config_drift_daily(drift)
    return write_mart_partitions(
        spark, frame, marts.CONFIG_DRIFT_TABLE, marts.CONFIG_DRIFT_COLUMNS, dates, sites, started
    )


@asset(
    key=["netops", "device_health"],
    group_name="netops",
    deps=[["raw", "device_metrics"]],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def device_health(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """Device health per (date, site, device): availability, CPU and memory percentiles,
    interface error and discard rates and flagged samples, from raw.device_metrics."""
    started = time.monotonic()
    spark = pyspark.spark_session
    dates, sites = split_partition_keys(context.partition_keys)
    # The first interval of a day starts at the device's last sample of the day before, so
    # the read includes that day. Rows are written for the requested dates only.
    samples = read_raw_rectangle(
        spark,
        platform.jdbc_url,
        "device_metrics",
        marts.DEVICE_METRICS_RAW_COLUMNS,
        marts.with_previous_days(dates),
        sites,
        date_column="event_date",
    )
    frame = marts.device_health_daily(samples, dates)
    return write_mart_partitions(
        spark, frame, marts.DEVICE_HEALTH_TABLE, marts.DEVICE_HEALTH_COLUMNS, dates, sites, started
    )
