"""NetOps assets: the Ansible raw tables per partition and the deployment marts."""

import time

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset
from dagster_pyspark import PySparkResource

from deploy_manager.netops import marts
from deploy_manager.partitions import date_site_partitions, split_partition_keys
from deploy_manager.resources.assets import build_raw_count_assets, write_mart_partitions
from deploy_manager.resources.database import PlatformSettings
from deploy_manager.resources.warehouse import read_raw_rectangle

RAW_TABLES = {
    "ansible_run_sites": "Ansible runs per site they touched: one row per (run, site), "
    "dated by the run's first event.",
    "ansible_host_stats": "Ansible PLAY RECAP: one row per (run, host) with its counts and "
    "whether the host succeeded.",
    "ansible_host_results": "Final result of each task on each host: one row per (run, host, "
    "task, outcome), with error text and duration.",
}


ansible_raw_tables = build_raw_count_assets(
    "ansible_raw_tables",
    RAW_TABLES,
    "Count the raw rows of each requested (date, site) partition in PostgreSQL.\n\n"
    "The rows arrive through the landing ingest; this step records, per partition, what the\n"
    "marts downstream will read.",
    date_column="run_date",
)


@asset(
    key=["netops", "ansible_deployment_metrics"],
    group_name="netops",
    deps=[["raw", "ansible_run_sites"], ["raw", "ansible_host_stats"]],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def ansible_deployment_metrics(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """Deployment runs per (date, site, playbook): executions, successes, failures, incomplete
    runs, run and host success rates and mean duration, from the Ansible raw tables."""
    started = time.monotonic()
    spark = pyspark.spark_session
    dates, sites = split_partition_keys(context.partition_keys)
    run_sites = read_raw_rectangle(
        spark,
        platform.jdbc_url,
        "ansible_run_sites",
        ["run_id", "site_id", "run_date", "playbook", "completeness", "duration_seconds"],
        dates,
        sites,
    )
    host_stats = read_raw_rectangle(
        spark,
        platform.jdbc_url,
        "ansible_host_stats",
        ["run_id", "site_id", "succeeded"],
        dates,
        sites,
    )
    frame = marts.deployment_metrics(
        run_sites, host_stats, platform.healthy_success_rate, platform.critical_success_rate
    )
    return write_mart_partitions(
        spark,
        frame,
        marts.DEPLOYMENT_METRICS_TABLE,
        marts.DEPLOYMENT_METRICS_COLUMNS,
        dates,
        sites,
        started,
    )


@asset(
    key=["netops", "deployment_failure_analysis"],
    group_name="netops",
    deps=[["raw", "ansible_host_results"]],
    partitions_def=date_site_partitions,
    backfill_policy=BackfillPolicy.single_run(),
)
def deployment_failure_analysis(
    context: AssetExecutionContext, pyspark: PySparkResource, platform: PlatformSettings
) -> MaterializeResult:
    """Failures per (date, site, playbook, normalised error message): how often, on how many
    hosts, an original message and the last time, from failed and unreachable results."""
    started = time.monotonic()
    spark = pyspark.spark_session
    dates, sites = split_partition_keys(context.partition_keys)
    results = read_raw_rectangle(
        spark,
        platform.jdbc_url,
        "ansible_host_results",
        [
            "run_id",
            "host",
            "site_id",
            "run_date",
            "task_id",
            "outcome",
            "playbook",
            "error_message",
            "error_normalised",
            "event_created",
        ],
        dates,
        sites,
    )
    frame = marts.failure_analysis(results)
    return write_mart_partitions(
        spark,
        frame,
        marts.FAILURE_ANALYSIS_TABLE,
        marts.FAILURE_ANALYSIS_COLUMNS,
        dates,
        sites,
        started,
    )
