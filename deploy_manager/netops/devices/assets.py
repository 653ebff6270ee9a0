"""Device assets: the device raw tables per partition and the device health and drift marts."""

import time

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from dagster_pyspark import PySparkResource
from psycopg import sql

from deploy_manager.ingest.assets import INVENTORY_KEY
from deploy_manager.netops.devices import marts
from deploy_manager.partitions import (
    date_site_partitions,
    partition_key,
    split_partition_keys,
)
from deploy_manager.resources.database import PlatformSettings, RawDatabase
from deploy_manager.resources.warehouse import (
    ensure_table,
    overwrite_partitions,
    read_raw_rectangle,
)

RAW_TABLES = {
    "device_metrics": "Network monitor samples: one row per (device, sample time) with CPU, "
    "memory, interface error and discard counters and reachability.",
    "config_backups": "Configuration backups: one row per (device, backup time) with the raw "
    "and normalised hashes and the configuration text.",
    "config_drift": "Each configuration backup compared with the device's previous backup and "
    "its role's golden configuration: one row per (device, backup time).",
}


@multi_asset(
    specs=[
        AssetSpec(["raw", name], group_name="raw", description=text, deps=[INVENTORY_KEY])
        for name, text in RAW_TABLES.items()
    ],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def device_raw_tables(context: AssetExecutionContext, raw_db: RawDatabase):
    """Count the raw device rows of each requested (date, site) partition in PostgreSQL.

    The rows arrive through the landing ingest. This step records, per partition, what the
    device marts downstream will read.
    """
    dates, sites = split_partition_keys(context.partition_keys)
    with raw_db.connect() as conn:
        for name in RAW_TABLES:
            query = sql.SQL(
                "SELECT event_date, site_id, count(*) FROM raw.{}"
                " WHERE event_date = ANY(%s) AND site_id = ANY(%s) GROUP BY 1, 2"
            ).format(sql.Identifier(name))
            counts = {(day, site): rows for day, site, rows in conn.execute(query, (dates, sites))}
            per_partition = {
                str(partition_key(day, site)): counts.get((day, site), 0)
                for day in dates
                for site in sites
            }
            rows = sum(per_partition.values())
            context.log.info(
                "raw.%s contains %d rows in %d partitions", name, rows, len(per_partition)
            )
            yield MaterializeResult(
                asset_key=["raw", name],
                metadata={
                    "rows": rows,
                    "partitions": len(per_partition),
                    "rows_per_partition": MetadataValue.json(per_partition),
                },
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
    ensure_table(spark, marts.CONFIG_DRIFT_TABLE, marts.CONFIG_DRIFT_COLUMNS)
    written = overwrite_partitions(spark, frame, marts.CONFIG_DRIFT_TABLE, dates, sites)
    return MaterializeResult(metadata={**written, "seconds": round(time.monotonic() - started, 2)})


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
    ensure_table(spark, marts.DEVICE_HEALTH_TABLE, marts.DEVICE_HEALTH_COLUMNS)
    written = overwrite_partitions(spark, frame, marts.DEVICE_HEALTH_TABLE, dates, sites)
    return MaterializeResult(metadata={**written, "seconds": round(time.monotonic() - started, 2)})
