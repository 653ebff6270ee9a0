"""Per-(date, site) asset checks: the check builders on ORC files written with pyarrow, the
per-site freshness check on instance records, and the wired checks on the Spark marts."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pyarrow as pa
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    asset,
    define_asset_job,
)

from deploy_manager.checks.builders import (
    RawCount,
    build_identity_checks,
    build_key_not_null_checks,
    build_percentile_order_checks,
    build_rate_checks,
)
from deploy_manager.checks.catalog import FAILURES, MART_CHECKS, SITE_HEALTH
from deploy_manager.checks.freshness import (
    FRESHNESS_CHECK_NAME,
    build_site_freshness_check,
    site_freshness,
    utc_today,
)
from deploy_manager.checks.identity import ALL_KINDS, find_identities
from deploy_manager.checks.partitioned import CheckSeverity, build_asset_checks, run_partition_keys
from deploy_manager.partitions import date_site_partitions, partition_key
from deploy_manager.pipeline import range_tags
from deploy_manager.resources.warehouse_files import WarehouseFiles

from .conftest import WORLD_DATES
from .warehouse_helpers import check_definitions, evaluations, run_checks, write_partition

KPI_KEY = ["core5g", "registration_kpis"]
KPI_TABLE = "core5g.registration_kpis"
DAY = "2026-11-01"
DAY_DATE = date.fromisoformat(DAY)
SITES = ["S1", "S2", "S3"]


@pytest.fixture
def instance() -> DagsterInstance:
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", SITES)
        yield instance


def test_run_keys_of_one_partition(instance):
    tags = {"dagster/partition": f"{DAY}|S2", "dagster/partition/site": "S2"}

    assert run_partition_keys(tags, instance) == (f"{DAY}|S2",)


def test_run_keys_of_a_range_are_its_rectangle(instance):
    first = date.fromisoformat(DAY)
    tags = range_tags(instance, first, first + timedelta(days=1), ["S2", "S3"])

    assert sorted(run_partition_keys(tags, instance)) == [
        f"{day}|{site}" for day in (DAY, "2026-11-02") for site in ("S2", "S3")
    ]


def test_run_keys_empty_without_partition_tags(instance):
    assert run_partition_keys({"dagster/backfill": "abc"}, instance) == ()


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("registration of imsi-001010000000101 complete", {"supi"}),
        ("[suci-0-001-01-0000-0-0-0000000101] Unknown UE by SUCI", {"suci"}),
        ("msisdn-33612345678", {"gpsi"}),
        ("caller +33612345678", {"gpsi"}),
        ("imei-490154203237518", {"pei"}),
        ("imeisv-4901542032375181", {"pei"}),
        ("subscriber 001010000000101", {"digits15"}),
        ("UE address 10.45.0.7 assigned", {"ipv4"}),
        ("ue-0123456789abcdef", set()),
        ("pei-1234567890123456", set()),
        ("suci-0-001-01-0000-1-1-4a3f9be8c0ff", set()),
        ("ansible-core 2.16.1.0.4", set()),
        ("999.1.1.1 and 2026-11-01T10:00:00Z", set()),
        ("task 0123456789012345 took 42 s", set()),
    ],
)
def test_identity_patterns(text, kinds):
    assert set(find_identities([text], ALL_KINDS)) == kinds


def test_rate_check_flags_values_outside_range(tmp_path, instance):
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [99.5, 100.5, None]})
    write_partition(tmp_path, KPI_TABLE, DAY, "S2", {"rate": [0.0, None, 100.0]})
    write_partition(tmp_path, KPI_TABLE, DAY, "S3", {"rate": [float("nan")]})
    defs = check_definitions([build_rate_checks(KPI_KEY, ["rate"])], tmp_path)
    result = run_checks(defs, instance, date(2026, 11, 1), date(2026, 11, 1))
    found = evaluations(result)
    s1 = found[("core5g/registration_kpis", "rates_in_range", f"{DAY}|S1")]
    assert not s1.passed
    assert s1.metadata["out_of_range_by_column"].value == {"rate": 1}
    assert found[("core5g/registration_kpis", "rates_in_range", f"{DAY}|S2")].passed
    assert not found[("core5g/registration_kpis", "rates_in_range", f"{DAY}|S3")].passed


def test_checks_share_mart_read_per_run(tmp_path, instance, monkeypatch):
    """The checks of one mart in one run read its files once. The next run reads them again
    and evaluates the rewritten partition."""
    reads = []
    read_partitions = WarehouseFiles.read_partitions

    def counting_read(self, qualified_table, partitions, columns=None):
        reads.append(qualified_table)
        return read_partitions(self, qualified_table, partitions, columns)

    monkeypatch.setattr(WarehouseFiles, "read_partitions", counting_read)
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [50.0], "amf_instance": ["amf-1"]})
    checks = [
        build_rate_checks(KPI_KEY, ["rate"]),
        build_key_not_null_checks(KPI_KEY, ["amf_instance"]),
    ]
    defs = check_definitions(checks, tmp_path)
    first = evaluations(run_checks(defs, instance, date(2026, 11, 1), date(2026, 11, 1)))
    assert reads == [KPI_TABLE]
    assert first[("core5g/registration_kpis", "rates_in_range", f"{DAY}|S1")].passed
    assert first[("core5g/registration_kpis", "keys_not_null", f"{DAY}|S1")].passed

    broken = {"rate": [150.0], "amf_instance": pa.array([None], pa.string())}
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", broken)
    second = evaluations(run_checks(defs, instance, date(2026, 11, 1), date(2026, 11, 1)))
    assert reads == [KPI_TABLE, KPI_TABLE]
    assert not second[("core5g/registration_kpis", "rates_in_range", f"{DAY}|S1")].passed
    assert not second[("core5g/registration_kpis", "keys_not_null", f"{DAY}|S1")].passed


def test_failed_error_check_fails_its_step(tmp_path, instance):
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [150.0]})
    defs = check_definitions([build_rate_checks(KPI_KEY, ["rate"])], tmp_path)
    result = run_checks(defs, instance, date(2026, 11, 1), date(2026, 11, 1))
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    assert "blocking asset check failed" in failures[0].event_specific_data.error.message


def test_partition_without_files_passes(tmp_path, instance):
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [50.0]})
    defs = check_definitions([build_rate_checks(KPI_KEY, ["rate"])], tmp_path)
    result = run_checks(defs, instance, date(2026, 11, 1), date(2026, 11, 2))
    found = evaluations(result)
    assert len(found) == 6
    assert all(e.passed for e in found.values())
    assert result.success


def test_percentile_check_flags_p95_above_p99(tmp_path, instance):
    write_partition(
        tmp_path, KPI_TABLE, DAY, "S1", {"p95": [10.0, 30.0, None], "p99": [12.0, 20.0, 5.0]}
    )
    write_partition(tmp_path, KPI_TABLE, DAY, "S2", {"p95": [10.0], "p99": [10.0]})
    check = build_percentile_order_checks(KPI_KEY, ["p95", "p99"])
    found = evaluations(
        run_checks(
            check_definitions([check], tmp_path), instance, date(2026, 11, 1), date(2026, 11, 1)
        )
    )
    s1 = found[("core5g/registration_kpis", "percentiles_ordered", f"{DAY}|S1")]
    assert not s1.passed
    assert s1.metadata["unordered_rows_by_pair"].value == {"p95 > p99": 1}
    assert found[("core5g/registration_kpis", "percentiles_ordered", f"{DAY}|S2")].passed


def test_percentile_check_needs_two_columns():
    with pytest.raises(ValueError, match="at least two percentile columns"):
        build_percentile_order_checks(KPI_KEY, ["p95"])


def test_key_check_counts_nulls_and_default_partition(tmp_path, instance):
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"amf": ["amf-1", None]})
    write_partition(tmp_path, KPI_TABLE, DAY, "S2", {"amf": ["amf-1"]})
    write_partition(tmp_path, KPI_TABLE, "__HIVE_DEFAULT_PARTITION__", "S2", {"amf": ["amf-2"]})
    check = build_key_not_null_checks(KPI_KEY, ["amf"])
    found = evaluations(
        run_checks(
            check_definitions([check], tmp_path), instance, date(2026, 11, 1), date(2026, 11, 1)
        )
    )
    s1 = found[("core5g/registration_kpis", "keys_not_null", f"{DAY}|S1")]
    assert s1.metadata["null_keys_by_column"].value == {"amf": 1, "date or site_id": 0}
    s2 = found[("core5g/registration_kpis", "keys_not_null", f"{DAY}|S2")]
    assert s2.metadata["null_keys_by_column"].value == {"amf": 0, "date or site_id": 1}
    assert found[("core5g/registration_kpis", "keys_not_null", f"{DAY}|S3")].passed


def test_identity_check_reports_counts_not_values(tmp_path, instance):
    write_partition(
        tmp_path,
        KPI_TABLE,
        DAY,
        "S1",
        {"ue": ["ue-0123456789abcdef", "imsi-001010000000101"], "ip": ["ip-0a1b", "10.45.0.9"]},
    )
    write_partition(
        tmp_path, KPI_TABLE, DAY, "S2", {"ue": ["ue-0123456789abcdef"], "ip": ["ip-0a1b"]}
    )
    check = build_identity_checks(KPI_KEY)
    found = evaluations(
        run_checks(
            check_definitions([check], tmp_path), instance, date(2026, 11, 1), date(2026, 11, 1)
        )
    )
    s1 = found[("core5g/registration_kpis", "no_identity_in_clear", f"{DAY}|S1")]
    assert not s1.passed
    assert s1.metadata["identities_by_column_and_kind"].value == {"ue:supi": 1, "ip:ipv4": 1}
    assert "001010000000101" not in s1.description
    assert found[("core5g/registration_kpis", "no_identity_in_clear", f"{DAY}|S2")].passed


def test_identity_check_rejects_unknown_kind():
    with pytest.raises(ValueError, match="identity kinds"):
        build_identity_checks(KPI_KEY, kinds=["imsi"])


def test_missing_column_fails_with_its_name(tmp_path, instance):
    """A check that raises fails its step with its name and error, after the other checks of
    the same mart have recorded their results."""
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [50.0]})
    checks = [
        build_rate_checks(KPI_KEY, ["success_rate"]),
        build_rate_checks(KPI_KEY, ["rate"], name="rate_in_range"),
    ]
    result = run_checks(check_definitions(checks, tmp_path), instance, DAY_DATE, DAY_DATE)
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    error = str(failure.event_specific_data.error)
    assert "check rates_in_range: KeyError: columns ['success_rate']" in error
    assert "['success_rate'] are not in core5g.registration_kpis" in error
    found = evaluations(result)
    assert found[("core5g/registration_kpis", "rate_in_range", f"{DAY}|S1")].passed
    assert not any(name == "rates_in_range" for _, name, _ in found)


def test_checks_of_a_mart_run_in_one_step(tmp_path, instance):
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [50.0], "amf_instance": ["amf-1"]})
    checks = [
        build_rate_checks(KPI_KEY, ["rate"]),
        build_key_not_null_checks(KPI_KEY, ["amf_instance"]),
        build_rate_checks(["core5g", "session_kpis"], ["rate"]),
    ]
    result = run_checks(check_definitions(checks, tmp_path), instance, DAY_DATE, DAY_DATE)
    steps = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_SUCCESS}
    assert steps == {"core5g__registration_kpis_checks", "core5g__session_kpis_checks"}
    assert {(key, name) for key, name, _ in evaluations(result)} == {
        ("core5g/registration_kpis", "rates_in_range"),
        ("core5g/registration_kpis", "keys_not_null"),
        ("core5g/session_kpis", "rates_in_range"),
    }


def test_selected_check_runs_alone(tmp_path, instance):
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [50.0], "amf_instance": ["amf-1"]})
    checks = build_asset_checks(
        [build_rate_checks(KPI_KEY, ["rate"]), build_key_not_null_checks(KPI_KEY, ["amf_instance"])]
    )
    defs = check_definitions(checks, tmp_path)
    job = define_asset_job(
        "rates_only",
        selection=AssetSelection.checks(AssetCheckKey(AssetKey(KPI_KEY), "rates_in_range")),
    )
    result = (
        Definitions.merge(defs, Definitions(jobs=[job]))
        .resolve_job_def("rates_only")
        .execute_in_process(instance=instance, tags=range_tags(instance, DAY_DATE, DAY_DATE))
    )
    assert {name for _, name, _ in evaluations(result)} == {"rates_in_range"}


def test_raising_warn_check_does_not_block(tmp_path, instance):
    """A non-blocking check runs in its own step, so its error does not keep the assets
    downstream of the checked mart from being materialized."""
    write_partition(tmp_path, KPI_TABLE, DAY, "S1", {"rate": [50.0]})

    @asset(key=AssetKey(KPI_KEY), partitions_def=date_site_partitions)
    def registration_kpis() -> None:
        pass

    @asset(deps=[registration_kpis], partitions_def=date_site_partitions)
    def downstream() -> None:
        pass

    warn = CheckSeverity(AssetCheckSeverity.WARN, "a test of a non-blocking check")
    checks = build_asset_checks(
        [
            build_rate_checks(KPI_KEY, ["rate"]),
            build_rate_checks(KPI_KEY, ["missing"], name="missing_in_range", severity=warn),
        ]
    )
    defs = Definitions(
        assets=[registration_kpis, downstream],
        asset_checks=checks,
        jobs=[define_asset_job("all_assets")],
        resources={"warehouse": WarehouseFiles(warehouse_dir=str(tmp_path))},
    )
    result = defs.resolve_job_def("all_assets").execute_in_process(
        instance=instance, partition_key=f"{DAY}|S1", raise_on_error=False
    )
    failed = {
        e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE
    }
    materialized = {
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    }

    assert failed == {"core5g__registration_kpis_nonblocking_checks"}
    assert materialized == {"core5g/registration_kpis", "downstream"}


def test_repeated_check_name_raises():
    checks = [build_rate_checks(KPI_KEY, ["rate"]), build_rate_checks(KPI_KEY, ["other_rate"])]
    with pytest.raises(ValueError, match="repeat a name"):
        build_asset_checks(checks)


def test_raw_count_query_counts_distinct_tuples(fresh_database):
    raw = RawCount("ansible_host_results", ("run_id", "host", "task_id"), "outcome = 'failed'")
    text = raw.query().as_string()
    assert "SELECT DISTINCT" in text
    assert '"raw"."ansible_host_results"' in text
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute(raw.query(), ([date(2026, 11, 1)], ["S1"])).fetchall() == []


def _materialize(instance: DagsterInstance, key: list[str], day: date, site: str) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=key, partition=str(partition_key(day, site)))
    )


def test_stale_site_is_flagged_and_fresh_one_not(tmp_path, monkeypatch):
    monkeypatch.setenv("DM_FRESHNESS_LAG_DAYS", "2")
    today = utc_today()
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["FRESH", "STALE", "NEVER"])
        _materialize(instance, SITE_HEALTH, today - timedelta(days=10), "FRESH")
        _materialize(instance, SITE_HEALTH, today - timedelta(days=1), "FRESH")
        _materialize(instance, SITE_HEALTH, today - timedelta(days=3), "STALE")
        by_site = {s.site_id: s for s in site_freshness(instance, AssetKey(SITE_HEALTH), today)}
        assert by_site["FRESH"].days_behind == 1
        assert not by_site["FRESH"].is_stale(2)
        assert by_site["STALE"].is_stale(2)
        assert by_site["NEVER"].latest_date is None

        check = build_site_freshness_check(SITE_HEALTH)
        defs = check_definitions([check], tmp_path)
        result = defs.resolve_job_def("checks_only").execute_in_process(instance=instance)
        evaluation = evaluations(result)[("kpi/site_health_daily", FRESHNESS_CHECK_NAME, None)]
    assert result.success
    assert not evaluation.passed
    assert evaluation.severity.value == "WARN"
    stale = evaluation.metadata["stale_sites"].value
    assert stale == {"STALE": (today - timedelta(days=3)).isoformat(), "NEVER": None}


def test_freshness_lag_must_be_whole_days(monkeypatch):
    from deploy_manager.alerts.settings import load_alert_settings

    monkeypatch.setenv("DM_FRESHNESS_LAG_DAYS", "1.5")
    with pytest.raises(ValueError, match=r"DM_FRESHNESS_LAG_DAYS='1\.5' is invalid"):
        load_alert_settings()


@pytest.mark.spark
def test_world_backfill_passes_every_partition_check(platform_world):
    found = evaluations(platform_world.backfill_result)
    partitioned = {k: e for k, e in found.items() if k[2] is not None}
    sites = platform_world.instance.get_dynamic_partitions("site")
    check_keys = [key for checks in MART_CHECKS for key in checks.check_keys]
    assert len(partitioned) == len(check_keys) * len(WORLD_DATES) * len(sites)
    failed = {k: e.description for k, e in partitioned.items() if not e.passed}
    assert failed == {}


def _raw_run_site(conn, day: date, site: str, delete: bool = False) -> None:
    if delete:
        conn.execute("DELETE FROM raw.ansible_run_sites WHERE run_id = 'check-test-extra-run'")
    else:
        conn.execute(
            "INSERT INTO raw.ansible_run_sites (run_id, site_id, run_date, playbook, completeness)"
            " VALUES ('check-test-extra-run', %s, %s, 'extra.yml', 'complete')",
            (site, day),
        )
    conn.commit()


@pytest.mark.spark
def test_reconcile_fails_on_unmaterialized_raw_row(platform_world, tmp_path):
    day, site = WORLD_DATES[1], "SITE001"
    defs = check_definitions(
        MART_CHECKS, platform_world.settings.warehouse_dir, platform_world.database_url
    )
    with psycopg.connect(platform_world.database_url) as conn:
        _raw_run_site(conn, day, site)
        try:
            failed = evaluations(run_checks(defs, platform_world.instance, day, day))
        finally:
            _raw_run_site(conn, day, site, delete=True)
    passed = evaluations(run_checks(defs, platform_world.instance, day, day))
    key = str(partition_key(day, site))
    check = ("netops/ansible_deployment_metrics", "reconcile_total_executions", key)
    assert not failed[check].passed
    assert failed[check].metadata["difference"].value == -1
    assert not failed[("kpi/site_health_daily", "reconcile_total_executions", key)].passed
    other = ("netops/ansible_deployment_metrics", "reconcile_total_executions", f"{day}|SITE002")
    assert failed[other].passed
    assert passed[check].passed


@pytest.mark.spark
def test_identity_leak_blocks_downstream_kpi(platform_world):
    day, site = WORLD_DATES[1], "SITE002"
    job = platform_world.defs.resolve_job_def("materialize_partitions")
    key = str(partition_key(day, site))
    insert = (
        "INSERT INTO raw.ansible_host_results (run_id, host, site_id, run_date, task_id,"
        " outcome, playbook, error_message, error_normalised, event_created)"
        " VALUES ('check-test-leak', 'edge-1', %s, %s, 'task-1', 'failed', 'leak.yml',"
        " 'rejected imsi-001010000000101', 'rejected <id>', %s)"
    )
    with psycopg.connect(platform_world.database_url) as conn:
        conn.execute(insert, (site, day, f"{day}T10:00:00Z"))
        conn.commit()
        try:
            leaked = job.execute_in_process(
                instance=platform_world.instance, partition_key=key, raise_on_error=False
            )
        finally:
            conn.execute("DELETE FROM raw.ansible_host_results WHERE run_id = 'check-test-leak'")
            conn.commit()
    restored = job.execute_in_process(instance=platform_world.instance, partition_key=key)
    found = evaluations(leaked)
    assert not found[("/".join(FAILURES), "no_identity_in_clear", key)].passed
    materialized = {e.asset_key.to_user_string() for e in leaked.get_asset_materialization_events()}
    assert "netops/deployment_failure_analysis" in materialized
    assert "kpi/site_health_daily" not in materialized
    assert not leaked.success
    assert restored.success
