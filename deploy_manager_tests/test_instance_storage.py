"""The platform's Dagster instance storage on a real PostgreSQL database: per-partition check
results written by upsert, in batches inside a check step, over pooled connections."""

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
from deploy_manager.instance_storage import UpsertCheckEventLogStorage, batched_check_results
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


def _evaluation_records(instance: DagsterInstance, run_id: str):
    return instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records


def test_batched_results_point_at_their_events(tmp_path, platform_instance):
    sites = ["S1", "S2", "S3"]
    for site, rate in zip(sites, [120.0, 99.0, 50.0], strict=True):
        write_partition(tmp_path, TABLE, DAY.isoformat(), site, {"rate": [rate]})
    defs = check_definitions([build_rate_checks(KEY, ["rate"])], tmp_path)
    platform_instance.add_dynamic_partitions("site", sites)

    result = run_checks(defs, platform_instance, DAY, DAY)
    records = _evaluation_records(platform_instance, result.run_id)
    # The check's planned row of the run has no partition.
    infos = [
        info
        for info in platform_instance.event_log_storage.get_asset_check_partition_info([CHECK])
        if info.partition_key is not None
    ]
    latest_ids = {info.partition_key: info.latest_check_event_storage_id for info in infos}
    statuses = {info.partition_key: info.latest_execution_status for info in infos}

    assert not result.success
    assert [r.event_log_entry.dagster_event.event_specific_data.partition for r in records] == [
        f"{DAY}|{site}" for site in sites
    ]
    assert latest_ids == {
        r.event_log_entry.dagster_event.event_specific_data.partition: r.storage_id for r in records
    }
    assert statuses[f"{DAY}|S1"] == AssetCheckExecutionRecordStatus.FAILED
    assert statuses[f"{DAY}|S2"] == AssetCheckExecutionRecordStatus.SUCCEEDED
    assert statuses[f"{DAY}|S3"] == AssetCheckExecutionRecordStatus.SUCCEEDED


def test_batch_writes_results_when_block_ends(tmp_path, platform_instance):
    write_partition(tmp_path, TABLE, DAY.isoformat(), "S1", {"rate": [50.0]})
    defs = check_definitions([build_rate_checks(KEY, ["rate"])], tmp_path)
    platform_instance.add_dynamic_partitions("site", ["S1"])
    result = run_checks(defs, platform_instance, DAY, DAY)
    [record] = _evaluation_records(platform_instance, result.run_id)
    storage = platform_instance.event_log_storage

    with batched_check_results(platform_instance):
        # Twice in one batch, as a retried write would: one row per partition remains.
        storage.store_event(record.event_log_entry)
        storage.store_event(record.event_log_entry)
        held = _evaluation_records(platform_instance, result.run_id)
    written = _evaluation_records(platform_instance, result.run_id)
    history = storage.get_asset_check_execution_history(
        CHECK, limit=10, partition_filter=PartitionKeyFilter(key=f"{DAY}|S1")
    )
    [info] = storage.get_asset_check_partition_info([CHECK], partition_keys=[f"{DAY}|S1"])

    assert len(held) == 1
    assert len(written) == 3
    assert len(history) == 1
    assert info.latest_check_event_storage_id == written[-1].storage_id


def test_batch_writes_held_results_before_other_events(tmp_path, platform_instance):
    write_partition(tmp_path, TABLE, DAY.isoformat(), "S1", {"rate": [50.0]})
    defs = check_definitions([build_rate_checks(KEY, ["rate"])], tmp_path)
    platform_instance.add_dynamic_partitions("site", ["S1"])
    result = run_checks(defs, platform_instance, DAY, DAY)
    [record] = _evaluation_records(platform_instance, result.run_id)
    [success] = platform_instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.STEP_SUCCESS
    ).records
    storage = platform_instance.event_log_storage

    with batched_check_results(platform_instance):
        storage.store_event(record.event_log_entry)
        storage.store_event(success.event_log_entry)
        held = _evaluation_records(platform_instance, result.run_id)
    ids = [
        r.storage_id
        for r in platform_instance.get_records_for_run(result.run_id, limit=1000).records
    ]

    assert len(held) == 2
    assert ids == sorted(ids)
    assert ids[-2:] == [held[-1].storage_id, ids[-1]]
