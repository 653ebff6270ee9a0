"""The checks of every mart and KPI aggregate, one builder call per check.

The reconcile checks tie each mart to the raw rows of its partition. Every run of
raw.ansible_run_sites is counted in exactly one deployment row, and every failed or
unreachable (run, host, task) in exactly one failure row. Every device sample of the
partition's date is counted in exactly one device row, and every configuration backup in
exactly one drift row. The 5G core marts count every registration attempt, PDU session
attempt, NF scrape and distinct CDR container once.
"""

from __future__ import annotations

from deploy_manager.checks.builders import (
    RawCount,
    build_identity_checks,
    build_key_not_null_checks,
    build_percentile_order_checks,
    build_rate_checks,
    build_reconcile_check,
)
from deploy_manager.checks.freshness import build_site_freshness_check
from deploy_manager.checks.identity import ALL_KINDS, SUBSCRIBER_KINDS_WITHOUT_IP
from deploy_manager.checks.partitioned import build_asset_checks

DEPLOYMENTS = ["netops", "ansible_deployment_metrics"]
FAILURES = ["netops", "deployment_failure_analysis"]
SITE_HEALTH = ["kpi", "site_health_daily"]
DEVICE_HEALTH = ["netops", "device_health"]
CONFIG_DRIFT = ["netops", "config_drift"]
REGISTRATIONS = ["core5g", "registration_kpis"]
REGISTRATION_FAILURES = ["core5g", "registration_failures"]
SESSIONS = ["core5g", "session_kpis"]
CELL_THROUGHPUT = ["core5g", "cell_throughput"]
NF_HEALTH = ["core5g", "nf_health"]

RUN_SITES = RawCount("ansible_run_sites")
# The failures of netops.marts.failure_results: once per (run, host, task), whatever the loop.
FAILED_TASKS = RawCount(
    "ansible_host_results",
    distinct=("run_id", "host", "task_id"),
    where="outcome IN ('failed', 'unreachable')",
)
DEVICE_SAMPLES = RawCount("device_metrics", date_column="event_date")
REGISTRATION_ATTEMPTS = RawCount("amf_registration_attempts", date_column="event_date")
FAILED_REGISTRATIONS = RawCount(
    "amf_registration_attempts",
    date_column="event_date",
    where="outcome IN ('reject', 'no_response')",
)
SESSION_ATTEMPTS = RawCount("pdu_session_attempts", date_column="event_date")
CONFIG_BACKUPS = RawCount("config_drift", date_column="event_date")
BACKED_UP_DEVICES = RawCount("config_drift", distinct=("device",), date_column="event_date")
# The containers that deploy_manager.core5g.marts.unique_containers keeps: one per (charging id,
# record sequence number, rating group, local sequence number) in a partition.
UNIQUE_CONTAINERS = RawCount(
    "chf_cdrs",
    distinct=("charging_id", "record_sequence_number", "rating_group", "local_sequence_number"),
    date_column="event_date",
)
NF_SCRAPES = RawCount("nf_scrapes", date_column="event_date")
NF_HEALTH_RATES = ["availability_pct", "counter_reg_success_rate", "log_reg_success_rate"]

# Every percentage of the site's day: the deployment, device, drift and 5G rates and the
# health score with its components.
SITE_HEALTH_RATES = [
    "success_rate",
    "host_success_rate",
    "device_availability_pct",
    "min_device_availability_pct",
    "max_cpu_p95",
    "max_mem_p95",
    "reg_success_rate",
    "session_setup_success_rate",
    "deployment_score",
    "device_score",
    "drift_score",
    "registration_score",
    "health_score",
]

# One step per mart evaluates all of its checks.
MART_CHECKS = build_asset_checks(
    [
        build_reconcile_check(DEPLOYMENTS, "total_executions", RUN_SITES),
        build_rate_checks(DEPLOYMENTS, ["success_rate", "host_success_rate"]),
        build_key_not_null_checks(DEPLOYMENTS, ["playbook"]),
        build_identity_checks(DEPLOYMENTS, kinds=SUBSCRIBER_KINDS_WITHOUT_IP),
        build_reconcile_check(FAILURES, "failure_count", FAILED_TASKS),
        build_key_not_null_checks(FAILURES, ["playbook", "error_message"]),
        # Ansible error messages name managed devices by address, which is not subscriber data.
        build_identity_checks(FAILURES, kinds=SUBSCRIBER_KINDS_WITHOUT_IP),
        build_reconcile_check(SITE_HEALTH, "total_executions", RUN_SITES),
        build_reconcile_check(SITE_HEALTH, "failure_count", FAILED_TASKS),
        build_reconcile_check(SITE_HEALTH, "device_samples", DEVICE_SAMPLES),
        build_reconcile_check(SITE_HEALTH, "devices_backed_up", BACKED_UP_DEVICES),
        build_reconcile_check(SITE_HEALTH, "reg_attempts", REGISTRATION_ATTEMPTS),
        build_rate_checks(SITE_HEALTH, SITE_HEALTH_RATES),
        build_key_not_null_checks(SITE_HEALTH),
        build_identity_checks(SITE_HEALTH, kinds=SUBSCRIBER_KINDS_WITHOUT_IP),
        build_reconcile_check(DEVICE_HEALTH, "samples", DEVICE_SAMPLES),
        build_rate_checks(
            DEVICE_HEALTH,
            ["availability_pct", "cpu_p50", "cpu_p95", "cpu_max", "mem_p50", "mem_p95", "mem_max"],
        ),
        build_percentile_order_checks(
            DEVICE_HEALTH, ["cpu_p50", "cpu_p95", "cpu_max"], name="cpu_ordered"
        ),
        build_percentile_order_checks(
            DEVICE_HEALTH, ["mem_p50", "mem_p95", "mem_max"], name="mem_ordered"
        ),
        build_key_not_null_checks(DEVICE_HEALTH, ["device"]),
        # Devices are named by host name or management address, which is not subscriber data.
        build_identity_checks(DEVICE_HEALTH, kinds=SUBSCRIBER_KINDS_WITHOUT_IP),
        build_reconcile_check(CONFIG_DRIFT, "backups", CONFIG_BACKUPS),
        build_key_not_null_checks(CONFIG_DRIFT, ["device"]),
        # Configuration diffs contain interface and management addresses, so IPv4 is not scanned.
        build_identity_checks(CONFIG_DRIFT, kinds=SUBSCRIBER_KINDS_WITHOUT_IP),
        build_reconcile_check(REGISTRATIONS, "total_attempts", REGISTRATION_ATTEMPTS),
        build_rate_checks(REGISTRATIONS, ["success_rate"]),
        build_percentile_order_checks(REGISTRATIONS, ["p95_latency", "p99_latency"]),
        build_key_not_null_checks(REGISTRATIONS, ["amf_instance"]),
        build_identity_checks(REGISTRATIONS, kinds=ALL_KINDS),
        build_reconcile_check(REGISTRATION_FAILURES, "attempts", FAILED_REGISTRATIONS),
        build_key_not_null_checks(REGISTRATION_FAILURES, ["amf_instance", "outcome"]),
        build_identity_checks(REGISTRATION_FAILURES, kinds=ALL_KINDS),
        build_reconcile_check(SESSIONS, "attempts", SESSION_ATTEMPTS),
        build_rate_checks(SESSIONS, ["setup_success_rate", "counter_setup_success_rate"]),
        build_key_not_null_checks(SESSIONS, ["smf_instance"]),
        build_identity_checks(SESSIONS, kinds=ALL_KINDS),
        build_reconcile_check(CELL_THROUGHPUT, "containers", UNIQUE_CONTAINERS),
        build_key_not_null_checks(CELL_THROUGHPUT, ["nr_cell_id"]),
        build_identity_checks(CELL_THROUGHPUT, kinds=ALL_KINDS),
        build_reconcile_check(NF_HEALTH, "scrapes", NF_SCRAPES),
        build_rate_checks(NF_HEALTH, NF_HEALTH_RATES),
        build_key_not_null_checks(NF_HEALTH, ["nf", "instance"]),
        # A Prometheus instance label is the NF's own address, which is not subscriber data.
        build_identity_checks(NF_HEALTH, kinds=SUBSCRIBER_KINDS_WITHOUT_IP),
    ]
)

# Lateness per site of the daily aggregates, run by the freshness schedule.
FRESHNESS_CHECKS = [build_site_freshness_check(SITE_HEALTH)]
