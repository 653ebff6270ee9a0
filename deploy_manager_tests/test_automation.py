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
from deploy_manager.automation.settings import load_automation_settings
from deploy_manager.definitions import defs
from deploy_manager.ingest.files import record_ingested
from deploy_manager.netops.generator import write_artifacts, write_inventory
from deploy_manager.netops.load import ingest_landing
from deploy_manager.partitions import date_site_partitions
from deploy_manager.resources.database import PlatformSettings, RawDatabase

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
    resources = {
        "raw_db": RawDatabase(url=fresh_database),
        "platform": PlatformSettings(
            landing_dir=str(landing),
            jdbc_url="jdbc:postgresql://127.0.0.1:5432/unused",
            healthy_success_rate=95.0,
            critical_success_rate=80.0,
        ),
    }
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
