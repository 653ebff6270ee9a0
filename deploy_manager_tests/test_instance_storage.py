"""The platform's Dagster instance storage on a real PostgreSQL database: per-partition check
results written by upsert, over pooled connections."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlsplit

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterEventType, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from deploy_manager.checks.builders import build_rate_checks
from deploy_manager.instance_storage import UpsertCheckEventLogStorage
from deploy_manager.settings import PROJECT_ROOT

from .conftest import new_database_url
from .warehouse_helpers import check_definitions, run_checks, write_partition

KEY = ["core5g", "registration_kpis"]
TABLE = "core5g.registration_kpis"
DAY = date(2026, 11, 1)
CHECK = AssetCheckKey(AssetKey(KEY), "rates_in_range")


@pytest.fixture
def platform_instance(tmp_path, monkeypatch) -> Iterator[DagsterInstance]:
    """A Dagster instance from the repository's dagster.yaml, in a new PostgreSQL database."""
    from deploy_manager.db.connection import drop_database, ensure_database

    url = new_database_url("dm_instance")
    ensure_database(url)
    parts = urlsplit(url)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    for name, value in {
        "DAGSTER_PG_USERNAME": parts.username or "postgres",
        "DAGSTER_PG_PASSWORD": parts.password or "",
        "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parts.port or 5432),
        "DAGSTER_PG_DB": parts.path.lstrip("/"),
        "DAGSTER_STORAGE_DIR": str(tmp_path / "storage"),
    }.items():
        monkeypatch.setenv(name, value)
    instance = DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()
        drop_database(url)


def _statuses(instance: DagsterInstance) -> dict[str | None, AssetCheckExecutionRecordStatus]:
    infos = instance.event_log_storage.get_asset_check_partition_info([CHECK])
    return {info.partition_key: info.latest_execution_status for info in infos}


def test_partition_results_upserted_per_run(tmp_path, platform_instance):
    write_partition(tmp_path, TABLE, DAY.isoformat(), "S1", {"rate": [120.0]})
    write_partition(tmp_path, TABLE, DAY.isoformat(), "S2", {"rate": [99.0]})
    defs = check_definitions([build_rate_checks(KEY, ["rate"])], tmp_path)
    platform_instance.add_dynamic_partitions("site", ["S1", "S2"])

    first = run_checks(defs, platform_instance, DAY, DAY)
    after_first = _statuses(platform_instance)
    write_partition(tmp_path, TABLE, DAY.isoformat(), "S1", {"rate": [98.0]})
    second = run_checks(defs, platform_instance, DAY, DAY)
    after_second = _statuses(platform_instance)
    history = platform_instance.event_log_storage.get_asset_check_execution_history(
        CHECK, limit=10, partition_filter=PartitionKeyFilter(key=f"{DAY}|S1")
    )

    assert isinstance(platform_instance.event_log_storage, UpsertCheckEventLogStorage)
    assert not first.success
    assert second.success
    assert after_first[f"{DAY}|S1"] == AssetCheckExecutionRecordStatus.FAILED
    assert after_first[f"{DAY}|S2"] == AssetCheckExecutionRecordStatus.SUCCEEDED
    assert after_second[f"{DAY}|S1"] == AssetCheckExecutionRecordStatus.SUCCEEDED
    assert after_second[f"{DAY}|S2"] == AssetCheckExecutionRecordStatus.SUCCEEDED
    assert [record.run_id for record in history] == [second.run_id, first.run_id]
    assert [record.status for record in history] == [
        AssetCheckExecutionRecordStatus.SUCCEEDED,
        AssetCheckExecutionRecordStatus.FAILED,
    ]
    assert all(record.evaluation.partition == f"{DAY}|S1" for record in history)


def test_repeated_result_updates_its_row(tmp_path, platform_instance):
    write_partition(tmp_path, TABLE, DAY.isoformat(), "S1", {"rate": [50.0]})
    defs = check_definitions([build_rate_checks(KEY, ["rate"])], tmp_path)
    platform_instance.add_dynamic_partitions("site", ["S1"])
    result = run_checks(defs, platform_instance, DAY, DAY)
    [record] = platform_instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records

    # Storing the same result again, as a retried write would, keeps one row per partition.
    platform_instance.event_log_storage.store_event(record.event_log_entry)
    history = platform_instance.event_log_storage.get_asset_check_execution_history(
        CHECK, limit=10, partition_filter=PartitionKeyFilter(key=f"{DAY}|S1")
    )

    assert result.success
    assert len(history) == 1
    assert history[0].run_id == result.run_id
    assert history[0].status == AssetCheckExecutionRecordStatus.SUCCEEDED
