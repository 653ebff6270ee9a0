"""Automation: the daily schedule's single run over every site, site registration from
raw.inventory, and the landing sensor's comparison of fingerprints with raw.ingested_files."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime

import psycopg
import pytest
from dagster import (
    DagsterInstance,
    PartitionKeyRange,
    RunRequest,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from deploy_manager.automation.landing import pending_run_key, pending_sources
from deploy_manager.automation.schedules import DAILY_SCHEDULE_NAME
from deploy_manager.automation.sensors import (
    INGEST_JOB_NAME,
    PENDING_KEY_TAG,
    build_landing_sensor,
    landing_run_key,
)
from deploy_manager.automation.settings import load_automation_settings
from deploy_manager.definitions import defs
from deploy_manager.ingest.files import record_ingested
from deploy_manager.netops.generator import write_artifacts, write_inventory
from deploy_manager.netops.load import ingest_landing
from deploy_manager.partitions import date_site_partitions
from deploy_manager.resources.database import RawDatabase

from .test_core5g_ingest_asset import landing_resources, write_small_core5g_landing

SITES = ["SITE001", "SITE002", "SITE003", "SITE004", "SITE005"]


def _daily_request(instance: DagsterInstance, when: datetime):
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE_NAME)
    context = build_schedule_context(instance=instance, scheduled_execution_time=when)
    return schedule.evaluate_tick(context)


def test_daily_schedule_is_one_run_over_every_site():
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("site", SITES)
        tick = _daily_request(instance, datetime(2026, 11, 4, 1, 30, tzinfo=UTC))
        requests = tick.run_requests
        assert len(requests) == 1
        request = requests[0]
        tags = request.tags
        assert tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-11-03|SITE001"
        assert tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-11-03|SITE005"
        assert request.run_key == "daily-2026-11-03"
        keys = date_site_partitions.get_partition_keys_in_range(
            PartitionKeyRange(
                tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
            ),
            dynamic_partitions_store=instance,
        )
    assert sorted(keys) == [f"2026-11-03|{site}" for site in SITES]


def test_daily_schedule_skips_without_sites():
    with instance_for_test() as instance:
        tick = _daily_request(instance, datetime(2026, 11, 4, 1, 30, tzinfo=UTC))
    assert tick.run_requests == []
    assert "no sites are registered" in tick.skip_message


def test_schedule_cron_is_validated(monkeypatch):
    monkeypatch.setenv("DM_DAILY_SCHEDULE_CRON", "every day")
    with pytest.raises(ValueError, match="DM_DAILY_SCHEDULE_CRON='every day' is not a cron"):
        load_automation_settings()


def _insert_inventory(url: str, rows: list[tuple[str, str]]) -> None:
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO raw.inventory (host, site_id, valid_from, source_path)"
            " VALUES (%s, %s, '2026-10-01T00:00:00Z', 'inventory/test.json')",
            rows,
        )


def _site_tick(instance: DagsterInstance, url: str):
    sensor = defs.resolve_sensor_def("register_sites")
    context = build_sensor_context(instance=instance, resources={"raw_db": RawDatabase(url=url)})
    return sensor(context)


def test_site_sensor_registers_new_inventory_sites(fresh_database):
    _insert_inventory(
        fresh_database, [("h1", "SITE002"), ("h2", "SITE001"), ("h3", "SITE001"), ("h4", "BAD|X")]
    )
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["SITE001"])
        first = _site_tick(instance, fresh_database)
        assert isinstance(first, SensorResult)
        [request] = first.dynamic_partitions_requests
        instance.add_dynamic_partitions("site", list(request.partition_keys))
        second = _site_tick(instance, fresh_database)
        registered = instance.get_dynamic_partitions("site")
    assert list(request.partition_keys) == ["SITE002"]
    assert isinstance(second, SkipReason)
    assert registered == ["SITE001", "SITE002"]


@pytest.fixture
def landing(tmp_path):
    root = tmp_path / "landing"
    write_inventory(root / "inventory" / "sites-2026-10-01.json", ["SITE001"], 2)
    write_artifacts(
        root / "ansible" / "generated", ["SITE001"], [date(2026, 11, 1)], runs_per_site_day=1
    )
    callback = root / "ansible" / "callback"
    callback.mkdir(parents=True)
    (callback / "run.json").write_text('{"plays": [], "stats": {}}')
    (callback / "run.meta.json").write_text('{"run_id": "cb-1", "playbook": "site.yml"}')
    old = time.time() - 3600
    for path in root.rglob("*"):
        os.utime(path, (old, old))
    return root


def test_landing_sources_pending_until_ingested(landing, fresh_database):
    with psycopg.connect(fresh_database) as conn:
        before = pending_sources(conn, landing, settle_seconds=60)
        ingest_landing(conn, landing)
        conn.commit()
        after = pending_sources(conn, landing, settle_seconds=60)
    paths = [s.source_path for s in before]
    assert "inventory/sites-2026-10-01.json" in paths
    assert "ansible/callback/run.json" in paths
    assert "ansible/callback/run.meta.json" not in paths
    assert sum(p.startswith("ansible/generated/") for p in paths) == 1
    assert after == []


def test_landing_change_is_pending_after_settling(landing, fresh_database):
    with psycopg.connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        meta = landing / "ansible" / "callback" / "run.meta.json"
        meta.write_text('{"run_id": "cb-1", "playbook": "site_v2.yml"}')
        settling = pending_sources(conn, landing, settle_seconds=60)
        settled = pending_sources(conn, landing, settle_seconds=60, now=time.time() + 120)
    assert settling == []
    assert [s.source_path for s in settled] == ["ansible/callback/run.json"]


def test_other_landing_file_matches_content_hash(landing, fresh_database):
    metrics = landing / "devices" / "metrics" / "edge.jsonl"
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"device": "edge-1"}\n')
    os.utime(metrics, (time.time() - 3600,) * 2)
    with psycopg.connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        pending = pending_sources(conn, landing, settle_seconds=0)
        digest = pending[0].sha256
        record_ingested(conn, str(metrics.resolve()), digest, "device_metrics", 1, 0)
        conn.commit()
        after = pending_sources(conn, landing, settle_seconds=0)
    assert [s.source_path for s in pending] == ["devices/metrics/edge.jsonl"]
    assert after == []


def test_landing_sensor_requests_one_ingest_run(landing, fresh_database):
    sensor = defs.resolve_sensor_def("landing_files")
    resources = landing_resources(landing, fresh_database)
    with DagsterInstance.ephemeral() as instance:
        request = sensor(build_sensor_context(instance=instance, resources=resources))
        with psycopg.connect(fresh_database) as conn:
            expected_key = pending_run_key(pending_sources(conn, landing, 0))
            ingest_landing(conn, landing)
            conn.commit()
        skipped = sensor(build_sensor_context(instance=instance, resources=resources))
    assert isinstance(request, RunRequest)
    assert request.run_key == expected_key
    assert request.tags["deploy_manager/pending_sources"] == "3"
    assert isinstance(skipped, SkipReason)


def test_configuration_files_are_not_pending(landing, fresh_database):
    for relative in ("core5g/sources.json", "devices/golden/edge.cfg", "devices/golden/roles.csv"):
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("configuration\n")
        os.utime(path, (time.time() - 3600,) * 2)
    with psycopg.connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        pending = pending_sources(conn, landing, settle_seconds=0)
    assert pending == []


def _failed_ingest(instance: DagsterInstance, landing, database_url: str, pending_key: str):
    """Run the ingest job for real on a 5G core landing folder without a pseudonymisation key,
    tagged as a landing sensor run would be."""
    job = defs.resolve_job_def(INGEST_JOB_NAME)
    return job.execute_in_process(
        instance=instance,
        tags={PENDING_KEY_TAG: pending_key},
        resources=landing_resources(landing, database_url),
        raise_on_error=False,
    )


def test_landing_run_key_moves_on_after_failure(tmp_path, fresh_database, monkeypatch):
    monkeypatch.delenv("DM_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("DM_PSEUDONYM_KEY_FILE", str(tmp_path / "absent.key"))
    landing = tmp_path / "landing"
    write_small_core5g_landing(landing, "SITE777")
    with DagsterInstance.ephemeral() as instance:
        first, _ = landing_run_key(instance, "landing-abc", 300, time.time())
        result = _failed_ingest(instance, landing, fresh_database, "landing-abc")
        waiting, reason = landing_run_key(instance, "landing-abc", 300, time.time())
        retry, _ = landing_run_key(instance, "landing-abc", 300, time.time() + 301)
        other, _ = landing_run_key(instance, "landing-def", 300, time.time())
    assert not result.success
    assert first == "landing-abc"
    assert waiting is None
    assert "DM_LANDING_RETRY_SECONDS=300" in reason
    assert retry == "landing-abc-retry1"
    assert other == "landing-def"


def test_landing_sensor_retries_failed_ingest(tmp_path, fresh_database, monkeypatch):
    monkeypatch.delenv("DM_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("DM_PSEUDONYM_KEY_FILE", str(tmp_path / "absent.key"))
    monkeypatch.setenv("DM_LANDING_SETTLE_SECONDS", "0")
    monkeypatch.setenv("DM_LANDING_RETRY_SECONDS", "0")
    landing = tmp_path / "landing"
    write_small_core5g_landing(landing, "SITE777")
    sensor = build_landing_sensor(load_automation_settings())
    resources = landing_resources(landing, fresh_database)
    with DagsterInstance.ephemeral() as instance:
        request = sensor(build_sensor_context(instance=instance, resources=resources))
        failed = _failed_ingest(instance, landing, fresh_database, request.tags[PENDING_KEY_TAG])
        retry = sensor(build_sensor_context(instance=instance, resources=resources))
    assert isinstance(request, RunRequest)
    assert not failed.success
    assert isinstance(retry, RunRequest)
    assert retry.run_key == f"{request.run_key}-retry1"
    assert retry.tags[PENDING_KEY_TAG] == request.tags[PENDING_KEY_TAG]
