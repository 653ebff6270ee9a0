"""The Dagster + Spark pipeline over a real landing folder: backfills, idempotency, marts."""

from __future__ import annotations

from datetime import date

import pytest
from dagster import DagsterEventType

from deploy_manager.core5g.marts import (
    CELL_THROUGHPUT_TABLE,
    NF_HEALTH_TABLE,
    REGISTRATION_FAILURES_TABLE,
    REGISTRATION_KPIS_TABLE,
    SESSION_KPIS_TABLE,
)
from deploy_manager.netops.devices.marts import CONFIG_DRIFT_TABLE, DEVICE_HEALTH_TABLE
from deploy_manager.netops.marts import DEPLOYMENT_METRICS_TABLE, FAILURE_ANALYSIS_TABLE
from deploy_manager.partitions import partition_key
from deploy_manager.pipeline import ingest, materialize_rectangle

from .conftest import CASE_SITE, WORLD_DATES

MART_TABLES = [
    DEPLOYMENT_METRICS_TABLE,
    FAILURE_ANALYSIS_TABLE,
    CONFIG_DRIFT_TABLE,
    DEVICE_HEALTH_TABLE,
    REGISTRATION_KPIS_TABLE,
    REGISTRATION_FAILURES_TABLE,
    SESSION_KPIS_TABLE,
    CELL_THROUGHPUT_TABLE,
    NF_HEALTH_TABLE,
    "kpi.site_health_daily",
]
SPARK_ASSETS = {
    "netops/ansible_deployment_metrics",
    "netops/deployment_failure_analysis",
    "netops/config_drift",
    "netops/device_health",
    "core5g/registration_kpis",
    "core5g/registration_failures",
    "core5g/session_kpis",
    "core5g/cell_throughput",
    "core5g/nf_health",
    "kpi/site_health_daily",
}
# Step keys of the assets: the raw tables are one multi-asset step per source.
ASSET_STEPS = {"ansible_raw_tables", "device_raw_tables", "core5g_raw_tables"} | {
    key.replace("/", "__") for key in SPARK_ASSETS
}

pytestmark = pytest.mark.spark


def _snapshot(world) -> dict[str, list]:
    return {table: world.mart_rows(table) for table in MART_TABLES}


def test_backfill_is_one_run_with_one_spark_session(platform_world):
    result = platform_world.backfill_result
    assert result.success
    events = result.get_asset_materialization_events()
    keys = {event.asset_key.to_user_string() for event in events}
    assert keys >= SPARK_ASSETS
    partitions = {e.partition for e in events if e.asset_key.to_user_string() in SPARK_ASSETS}
    assert len(partitions) == len(WORLD_DATES) * 4
    app_ids = {
        e.materialization.metadata["spark_application_id"].value
        for e in events
        if e.asset_key.to_user_string() in SPARK_ASSETS
    }
    assert len(app_ids) == 1
    check_steps = {
        e.step_key
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    step_starts = [
        e
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_START and e.step_key not in check_steps
    ]
    step_keys = [e.step_key for e in step_starts]
    assert len(step_keys) == len(set(step_keys))
    assert set(step_keys) >= ASSET_STEPS


def test_backfill_reads_registrations_once(platform_world):
    logs = platform_world.instance.all_logs(platform_world.backfill_result.run_id)
    messages = [
        record.user_message
        for record in logs
        if "rows of raw.amf_registration_attempts" in record.user_message
    ]
    assert len([m for m in messages if m.startswith("read ")]) == 1
    assert len([m for m in messages if m.startswith("reused ")]) == 2


def test_backfill_equals_each_partition_alone(platform_world):
    before = _snapshot(platform_world)
    job = platform_world.defs.resolve_job_def("materialize_partitions")
    sites = platform_world.instance.get_dynamic_partitions("site")
    for day in WORLD_DATES:
        for site in sites:
            result = job.execute_in_process(
                instance=platform_world.instance, partition_key=str(partition_key(day, site))
            )
            assert result.success, (day, site)
    after = _snapshot(platform_world)
    for table in MART_TABLES:
        assert after[table] == before[table], table


def test_rematerialize_and_reingest_give_identical_marts(platform_world):
    before = _snapshot(platform_world)
    assert ingest(platform_world.defs, platform_world.instance).success
    result = materialize_rectangle(
        platform_world.defs, platform_world.instance, WORLD_DATES[0], WORLD_DATES[-1]
    )
    assert result.success
    assert _snapshot(platform_world) == before


def test_json_case_deployment_metrics(platform_world):
    rows = (
        platform_world.spark.table(DEPLOYMENT_METRICS_TABLE)
        .where(f"site_id = '{CASE_SITE}' AND date = DATE '2026-11-02'")
        .collect()
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["playbook"] == "site_upgrade.yml"
    assert row["total_executions"] == 1
    assert row["successful"] == 0
    assert row["failed"] == 1
    assert row["success_rate"] == 0.0
    assert row["host_success_rate"] == 50.0
    assert round(row["avg_duration"], 1) == 39.5
    assert row["deployment_status"] == "critical"


def test_json_case_failure_analysis_excludes_ignored(platform_world):
    rows = (
        platform_world.spark.table(FAILURE_ANALYSIS_TABLE)
        .where(f"site_id = '{CASE_SITE}'")
        .collect()
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["example_message"] == "image checksum mismatch on slot 2"
    assert row["error_message"] == "image checksum mismatch on slot <n>"
    assert row["failure_count"] == 1
    assert row["hosts_affected"] == 1
    assert row["last_failure_date"] == date(2026, 11, 2)


def test_site_health_matches_raw_runs(platform_world):
    """The KPI roll-up equals a count over the raw rows in PostgreSQL."""
    import psycopg

    with psycopg.connect(platform_world.database_url) as conn:
        expected = {
            (day, site): (total, ok)
            for day, site, total, ok in conn.execute(
                "SELECT rs.run_date, rs.site_id, count(*),"
                " count(*) FILTER (WHERE rs.completeness = 'complete' AND NOT EXISTS ("
                "   SELECT 1 FROM raw.ansible_host_stats hs WHERE hs.run_id = rs.run_id"
                "   AND hs.site_id = rs.site_id AND NOT hs.succeeded))"
                " FROM raw.ansible_run_sites rs GROUP BY 1, 2"
            )
        }
    rows = platform_world.spark.table("kpi.site_health_daily").collect()
    actual = {(r["date"], r["site_id"]): (r["total_executions"], r["successful"]) for r in rows}
    assert actual == expected
