"""5G core assets: the 5G core raw tables per partition and the core5g marts."""

import time
from datetime import date, timedelta

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, asset
from dagster_pyspark import PySparkResource
from pyspark.sql import DataFrame, SparkSession

from deploy_manager.core5g import marts
from deploy_manager.core5g.settings import Core5gSettings
from deploy_manager.partitions import date_site_partitions, split_partition_keys
from deploy_manager.resources.assets import (
    build_raw_count_assets,
    raw_table_key,
    write_mart_partitions,
)
from deploy_manager.resources.database import PlatformSettings
from deploy_manager.resources.raw_reads import SharedRawReads
from deploy_manager.resources.warehouse import read_raw_rectangle

RAW_TABLES = {
    "amf_registration_attempts": "AMF registrations from Open5GS and free5GC logs: one row per "
    "Registration Request with its outcome, cause and latency.",
    "pdu_session_attempts": "SMF PDU session establishments from Open5GS logs: one row per "
    "request with its outcome, 5GSM cause and latency.",
    "nf_scrapes": "Prometheus scrapes of the NFs: one row per scrape of one NF instance.",
    "nf_metric_samples": "Samples of the NF scrapes: one row per (scrape, series), invalid "
    "values NULL with a quality flag.",
    "nf_counter_increases": "Counter increases between consecutive scrapes of an NF instance, "
    "across restarts as Prometheus increase() computes them: one row per (interval, series).",
    "chf_cdrs": "CHF charging data records: one row per used-unit container, with its record's "
    "session fields and pseudonymised subscriber.",
}


core5g_raw_tables = build_raw_count_assets(
    "core5g_raw_tables",
    RAW_TABLES,
    "Count the 5G core raw rows of each requested (date, site) partition in PostgreSQL.\n\n"
    "The rows arrive through the landing ingest. This step records, per partition, what the\n"
    "core5g marts downstream will read.",
)


REGISTRATION_COLUMNS = [
    "site_id",
    "amf_instance",
    "nf_vendor",
    "ue_pseudonym",
    "requested_at",
    "outcome",
    "cause_code",
    "cause_name",
    "latency_ms",
    "event_date",
]
SESSION_COLUMNS = [
    "site_id",
    "smf_instance",
    "outcome",
    "cause_code",
    "cause_name",
    "latency_ms",
    "event_date",
]
INCREASE_COLUMNS = [
    "site_id",
    "nf",
    "instance",
    "metric",
    "labels_key",
    "labels",
    "unlabelled",
    "interval_start",
    "interval_end",
    "increase",
    "counter_reset",
    "event_date",
]
CDR_COLUMNS = [
    "site_id",
    "charging_id",
    "record_sequence_number",
    "rating_group",
    "local_sequence_number",
    "container_number",
    "tac",
    "container_nr_cell_id",
    "first_usage_at",
    "last_usage_at",
    "uplink_octets",
    "downlink_octets",
    "event_date",
    "source_path",
    "record_location",
]
SCRAPE_COLUMNS = [
    "site_id",
    "nf",
    "instance",
    "nf_vendor",
    "scraped_at",
    "process_start_time",
    "event_date",
]
SAMPLE_COLUMNS = [
    "site_id",
    "instance",
    "scraped_at",
    "metric",
    "labels_key",
    "value",
    "quality",
    "event_date",
]


REGISTRATION_KPIS_KEY = AssetKey(["core5g", "registration_kpis"])
REGISTRATION_FAILURES_KEY = AssetKey(["core5g", "registration_failures"])
SESSION_KPIS_KEY = AssetKey(["core5g", "session_kpis"])
NF_HEALTH_KEY = AssetKey(["core5g", "nf_health"])

# The marts that read a raw table with the same columns share one cached read per run.
RAW_READS = SharedRawReads(
    {
        "amf_registration_attempts": (
            REGISTRATION_KPIS_KEY,
            REGISTRATION_FAILURES_KEY,
            NF_HEALTH_KEY,
        ),
        "nf_counter_increases": (SESSION_KPIS_KEY, NF_HEALTH_KEY),
    }
)


def _read(
    context: AssetExecutionContext,
    spark: SparkSession,
    platform: PlatformSettings,
    table: str,
    columns: list[str],
    dates: list[date],
    sites: list[str],
) -> DataFrame:
    """Read raw.<table> for the rectangle dates x sites, cached and shared with the other
    steps of the run that read the same rows (``RAW_READS``), and log the rows read."""
    return RAW_READS.read(
        context,
        table,
        columns,
        dates,
        sites,
        lambda: read_raw_rectangle(
            spark, platform.jdbc_url, table, columns, dates, sites, date_column="event_date"
        ),
    )


def _read_registrations(
    context: AssetExecutionContext,
    spark: SparkSession,
    platform: PlatformSettings,
    dates: list[date],
    sites: list[str],
) -> DataFrame:
    """Read the AMF registration attempts of the rectangle, which three marts share."""
    return _read(
        context, spark, platform, "amf_registration_attempts", REGISTRATION_COLUMNS, dates, sites
    )


@asset(
    key=REGISTRATION_KPIS_KEY,
    group_name="core5g",
    deps=[raw_table_key("amf_registration_attempts")],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def registration_kpis(
    context: AssetExecutionContext,
    pyspark: PySparkResource,
    platform: PlatformSettings,
    core5g: Core5gSettings,
) -> MaterializeResult:
    """Registrations per (date, site, AMF instance): attempts, successes, rejects, attempts
    without response, success rate, mean, p95 and p99 latency and a status, from the AMF
    logs."""
    started = time.monotonic()
    with RAW_READS.step(context):
        spark = pyspark.spark_session
        dates, sites = split_partition_keys(context.partition_keys)
        attempts = _read_registrations(context, spark, platform, dates, sites)
        frame = marts.registration_kpis(
            attempts, core5g.reg_healthy_rate, core5g.reg_critical_rate, core5g.reg_max_p95_ms
        )
        return write_mart_partitions(
            spark,
            frame,
            marts.REGISTRATION_KPIS_TABLE,
            marts.REGISTRATION_KPIS_COLUMNS,
            dates,
            sites,
            started,
        )


@asset(
    key=REGISTRATION_FAILURES_KEY,
    group_name="core5g",
    deps=[raw_table_key("amf_registration_attempts")],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def registration_failures(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """Rejected and unanswered registrations per (date, site, AMF instance, outcome, 5GMM
    cause): attempts, distinct UEs, first and last time, from the AMF logs."""
    started = time.monotonic()
    with RAW_READS.step(context):
        spark = pyspark.spark_session
        dates, sites = split_partition_keys(context.partition_keys)
        attempts = _read_registrations(context, spark, platform, dates, sites)
        return write_mart_partitions(
            spark,
            marts.registration_failures(attempts),
            marts.REGISTRATION_FAILURES_TABLE,
            marts.REGISTRATION_FAILURES_COLUMNS,
            dates,
            sites,
            started,
        )


@asset(
    key=SESSION_KPIS_KEY,
    group_name="core5g",
    deps=[raw_table_key("pdu_session_attempts"), raw_table_key("nf_counter_increases")],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def session_kpis(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """PDU session setups per (date, site, SMF instance): attempts, successes, setup success
    rate, failures by 5GSM cause and latency from the SMF logs, beside the SMF counters."""
    started = time.monotonic()
    with RAW_READS.step(context):
        spark = pyspark.spark_session
        dates, sites = split_partition_keys(context.partition_keys)
        sessions = _read(
            context, spark, platform, "pdu_session_attempts", SESSION_COLUMNS, dates, sites
        )
        increases = _read(
            context, spark, platform, "nf_counter_increases", INCREASE_COLUMNS, dates, sites
        )
        return write_mart_partitions(
            spark,
            marts.session_kpis(sessions, increases),
            marts.SESSION_KPIS_TABLE,
            marts.SESSION_KPIS_COLUMNS,
            dates,
            sites,
            started,
        )


@asset(
    key=["core5g", "cell_throughput"],
    group_name="core5g",
    deps=[raw_table_key("chf_cdrs")],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def cell_throughput(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """Traffic per (date, site, NR cell, TAC): uplink and downlink octets, throughput and
    sessions, from the CHF-CDR used-unit containers after duplicates are dropped."""
    started = time.monotonic()
    with RAW_READS.step(context):
        spark = pyspark.spark_session
        dates, sites = split_partition_keys(context.partition_keys)
        cdrs = _read(context, spark, platform, "chf_cdrs", CDR_COLUMNS, dates, sites)
        return write_mart_partitions(
            spark,
            marts.cell_throughput(cdrs),
            marts.CELL_THROUGHPUT_TABLE,
            marts.CELL_THROUGHPUT_COLUMNS,
            dates,
            sites,
            started,
        )


@asset(
    key=NF_HEALTH_KEY,
    group_name="core5g",
    deps=[
        raw_table_key("nf_scrapes"),
        raw_table_key("nf_metric_samples"),
        raw_table_key("nf_counter_increases"),
        raw_table_key("amf_registration_attempts"),
    ],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def nf_health(
    context: AssetExecutionContext,
    pyspark: PySparkResource,
    platform: PlatformSettings,
    core5g: Core5gSettings,
) -> MaterializeResult:
    """NF instances per (date, site, instance): scrapes, availability, restarts, invalid
    samples and registration counters, from the Prometheus scrapes, beside the AMF's logged
    registration attempts."""
    started = time.monotonic()
    with RAW_READS.step(context):
        spark = pyspark.spark_session
        dates, sites = split_partition_keys(context.partition_keys)
        # A restart is found between two consecutive scrapes and dated by the interval's midpoint,
        # so scrapes are also read for the day before and after each date. The mart keeps only
        # the requested dates.
        around = sorted({day + timedelta(days=offset) for day in dates for offset in (-1, 0, 1)})
        scrapes = _read(context, spark, platform, "nf_scrapes", SCRAPE_COLUMNS, around, sites)
        increases = _read(
            context, spark, platform, "nf_counter_increases", INCREASE_COLUMNS, dates, sites
        )
        samples = _read(context, spark, platform, "nf_metric_samples", SAMPLE_COLUMNS, dates, sites)
        attempts = _read_registrations(context, spark, platform, dates, sites)
        frame = marts.nf_health(
            scrapes, samples, increases, attempts, dates, core5g.expected_scrapes_per_day
        )
        return write_mart_partitions(
            spark,
            frame,
            marts.NF_HEALTH_TABLE,
            marts.NF_HEALTH_COLUMNS,
            dates,
            sites,
            started,
        )


CORE5G_ASSETS = [
    core5g_raw_tables,
    registration_kpis,
    registration_failures,
    session_kpis,
    cell_throughput,
    nf_health,
]
