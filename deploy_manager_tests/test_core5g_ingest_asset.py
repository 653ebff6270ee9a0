"""The landing ingest asset with a 5G core landing folder: sites registered from the sources
configuration, the error for a missing pseudonymisation key, and the quarantine of an
invalid site id."""

from __future__ import annotations

import json

import psycopg
from dagster import DagsterEventType, DagsterInstance, materialize

from deploy_manager.core5g.landing import CORE5G_LANDING
from deploy_manager.ingest.assets import landing_ingest
from deploy_manager.resources.database import PlatformSettings, RawDatabase

from .conftest import WORLD_PSEUDONYM_KEY


def landing_resources(landing, database_url: str) -> dict:
    """Resources of the landing ingest on ``landing``; the JDBC URL is never used by it."""
    return {
        "raw_db": RawDatabase(url=database_url),
        "platform": PlatformSettings(
            landing_dir=str(landing),
            jdbc_url="jdbc:postgresql://127.0.0.1:5432/unused",
            healthy_success_rate=95.0,
            critical_success_rate=80.0,
        ),
    }


def run_landing_ingest(landing, database_url):
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [landing_ingest],
        resources=landing_resources(landing, database_url),
        instance=instance,
        raise_on_error=False,
    )
    return result, instance


def write_small_core5g_landing(landing, site_id: str) -> None:
    folder = landing / CORE5G_LANDING
    folder.mkdir(parents=True)
    log_lines = (
        "11/02 10:00:00.000: [amf] INFO: InitialUEMessage (../src/amf/ngap-handler.c:401)\n"
        "11/02 10:00:00.000: [amf] INFO:     RAN_UE_NGAP_ID[1] AMF_UE_NGAP_ID[1] TAC[7] "
        "CellID[0x10] (../src/amf/ngap-handler.c:562)\n"
        "11/02 10:00:00.001: [amf] INFO: [suci-0-001-01-0000-0-0-0000000999] Unknown UE by "
        "SUCI (../src/amf/context.c:1835)\n"
        "11/02 10:00:00.001: [gmm] INFO: Registration request (../src/amf/gmm-sm.c:1061)\n"
    )
    (folder / "amf.log").write_text(log_lines)
    source = {
        "pattern": "amf.log",
        "site_id": site_id,
        "nf": "amf",
        "instance": "amf-1",
        "format": "open5gs_log",
        "timezone": "UTC",
        "collected_on": "2026-11-02",
    }
    (folder / "sources.json").write_text(json.dumps({"sources": [source]}))


def failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    return failures[0].step_failure_data.user_failure_data.description


def test_landing_ingest_registers_5g_sites(tmp_path, fresh_database, monkeypatch):
    monkeypatch.setenv("DM_PSEUDONYM_KEY", WORLD_PSEUDONYM_KEY)
    write_small_core5g_landing(tmp_path, "SITE777")
    result, instance = run_landing_ingest(tmp_path, fresh_database)
    assert result.success
    assert instance.get_dynamic_partitions("site") == ["SITE777"]
    with psycopg.connect(fresh_database) as conn:
        stored = conn.execute("SELECT site_id, outcome FROM raw.amf_registration_attempts")
        assert stored.fetchall() == [("SITE777", "no_response")]


def test_landing_ingest_without_key_says_how_to_set_it(tmp_path, fresh_database, monkeypatch):
    monkeypatch.delenv("DM_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("DM_PSEUDONYM_KEY_FILE", str(tmp_path / "absent.key"))
    write_small_core5g_landing(tmp_path, "SITE777")
    result, instance = run_landing_ingest(tmp_path, fresh_database)
    assert not result.success
    message = failure_message(result)
    assert "DM_PSEUDONYM_KEY is not set" in message
    assert "export it as DM_PSEUDONYM_KEY" in message
    assert instance.get_dynamic_partitions("site") == []


def test_landing_ingest_quarantines_invalid_5g_site(tmp_path, fresh_database, monkeypatch):
    monkeypatch.setenv("DM_PSEUDONYM_KEY", WORLD_PSEUDONYM_KEY)
    write_small_core5g_landing(tmp_path, "SITE|7")
    result, instance = run_landing_ingest(tmp_path, fresh_database)
    assert result.success
    assert instance.get_dynamic_partitions("site") == []
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute(
            "SELECT source_path, location, reason FROM raw.quarantine ORDER BY source_path"
        ).fetchall()
        attempts = conn.execute("SELECT count(*) FROM raw.amf_registration_attempts")
        assert attempts.fetchone()[0] == 0
    assert [(path, location) for path, location, _ in rows] == [
        ("amf.log", "file"),
        ("sources.json", "entry 1"),
    ]
    assert "sources.json entry 1, whose pattern matches this file, is invalid" in rows[0][2]
    assert "sources.json entry 1: site id 'SITE|7' is invalid" in rows[1][2]
    assert rows[1][2].endswith("correct the site_id of this entry")
