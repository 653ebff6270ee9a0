"""Parsing of Ansible output: the json callback case, jsonl, artifact folders, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy_manager.netops.sources.errors import error_message, normalise_error
from deploy_manager.netops.sources.json_callback import parse_json_document, parse_jsonl
from deploy_manager.netops.sources.model import AnsibleParseError, parse_timestamp
from deploy_manager.netops.sources.runner_artifacts import parse_artifact_folder

from .conftest import CASES_DIR


@pytest.fixture
def case_run():
    text = (CASES_DIR / "ansible" / "json-callback-failed-run.txt").read_text()
    return parse_json_document(
        text, run_id="case", playbook="site_upgrade.yml", source_path="case.txt"
    )


def test_json_case_keeps_retry_hint(case_run):
    assert case_run.preamble == "to retry, use: --limit @/srv/playbooks/site_upgrade.retry"


def test_json_case_ignored_failure_is_not_a_failure(case_run):
    lint = [r for r in case_run.results if r.task == "Lint staged config"]
    assert [r.outcome for r in lint] == ["ignored"]
    assert case_run.stats["edge-r1.site104"].succeeded


def test_json_case_failed_host_and_error_text(case_run):
    failed = [r for r in case_run.results if r.outcome == "failed"]
    assert [(r.host, r.task) for r in failed] == [("edge-r2.site104", "Stage image")]
    assert error_message(failed[0].result) == "image checksum mismatch on slot 2"
    assert not case_run.stats["edge-r2.site104"].succeeded


def test_json_case_run_is_complete_and_lasts_39_5_seconds(case_run):
    assert case_run.completeness == "complete"
    assert case_run.status == "failed"
    assert round(case_run.duration_seconds, 1) == 39.5
    assert case_run.started_at.date().isoformat() == "2026-11-02"


def test_json_without_document_is_rejected():
    with pytest.raises(AnsibleParseError, match="no JSON document"):
        parse_json_document("PLAY RECAP\nok=1", run_id="r", playbook="p", source_path="x")


def test_jsonl_events_and_broken_line():
    lines = [
        "[WARNING]: provided hosts list is empty",
        json.dumps(
            {
                "_event": "v2_playbook_on_play_start",
                "_timestamp": "2026-11-02T03:00:00Z",
                "play": {"name": "Upgrade", "id": "p1"},
                "tasks": [],
            }
        ),
        json.dumps(
            {
                "_event": "v2_runner_on_failed",
                "_timestamp": "2026-11-02T03:00:05Z",
                "task": {"name": "Stage image", "id": "t1"},
                "hosts": {"r1": {"failed": True, "msg": "disk full"}},
            }
        ),
        json.dumps(
            {
                "_event": "v2_runner_on_failed",
                "_timestamp": "2026-11-02T03:00:05Z",
                "task": {"name": "Stage image", "id": "t1"},
                "hosts": {"r1": {"failed": True, "msg": "disk full"}},
            }
        ),
        '{"_event": "v2_runner_on_ok", "hosts": {',
        json.dumps(
            {
                "_event": "v2_playbook_on_stats",
                "_timestamp": "2026-11-02T03:00:09Z",
                "stats": {"r1": {"ok": 0, "failures": 1, "unreachable": 0}},
            }
        ),
    ]
    run, bad = parse_jsonl("\n".join(lines), run_id="r", playbook="p.yml", source_path="x")
    assert [b.line_number for b in bad] == [5]
    assert run.duplicate_events == 1
    assert [(r.host, r.outcome) for r in run.results] == [("r1", "failed")]
    assert run.completeness == "complete"
    assert run.duration_seconds == 9.0
    assert run.preamble == "[WARNING]: provided hosts list is empty"


def _write_event(folder: Path, counter: int, uuid: str, event: str, created: str, **data):
    body = {
        "uuid": uuid,
        "counter": counter,
        "event": event,
        "created": created,
        "event_data": {"playbook": "site.yml", **data},
    }
    (folder / f"{counter}-{uuid}.json").write_text(json.dumps(body))


def test_artifacts_order_dedupe_and_naive_times(tmp_path):
    run_dir = tmp_path / "run-a"
    events = run_dir / "job_events"
    events.mkdir(parents=True)
    (run_dir / "status").write_text("failed")
    (run_dir / "rc").write_text("2")
    _write_event(events, 1, "u1", "playbook_on_start", "2026-11-02T23:59:58.5")
    _write_event(
        events,
        5,
        "u5",
        "runner_on_ok",
        "2026-11-03T00:00:01",
        host="h1",
        task="A",
        task_uuid="t1",
        res={"changed": True},
    )
    _write_event(
        events,
        9,
        "u9",
        "runner_on_failed",
        "2026-11-03T00:00:02",
        host="h1",
        task="B",
        task_uuid="t2",
        res={"msg": "boom"},
    )
    (events / "9-u9-partial.json").write_text("{not json")
    (events / "12-u9.json").write_text(
        (events / "9-u9.json").read_text().replace('"counter": 9', '"counter": 12')
    )
    (events / "13-u13.json").write_text("{truncated")
    _write_event(
        events,
        20,
        "u20",
        "playbook_on_stats",
        "2026-11-03T00:00:03",
        failures={"h1": 1},
        ok={"h1": 1},
        processed={"h1": 1},
    )
    run, bad = parse_artifact_folder(run_dir)
    assert [b.path.name for b in bad] == ["13-u13.json"]
    assert run.duplicate_events == 1
    assert [(r.task, r.outcome) for r in run.results] == [("A", "changed"), ("B", "failed")]
    assert run.started_at.isoformat() == "2026-11-02T23:59:58.500000+00:00"
    assert run.rc == 2
    assert run.completeness == "complete"


def test_artifacts_timeout_without_stats(tmp_path):
    run_dir = tmp_path / "run-b"
    (run_dir / "job_events").mkdir(parents=True)
    (run_dir / "status").write_text("timeout")
    (run_dir / "rc").write_text("None")
    _write_event(run_dir / "job_events", 1, "u1", "playbook_on_start", "2026-11-02T10:00:00Z")
    run, _ = parse_artifact_folder(run_dir)
    assert run.completeness == "timeout"
    assert run.rc is None
    assert run.stats is None


def test_error_message_prefers_specific_text():
    assert error_message({"msg": "non-zero return code", "stderr": "disk full"}) == "disk full"
    assert error_message({"msg": "Could not find /x"}) == "Could not find /x"
    loop = {
        "msg": "One or more items failed",
        "results": [{"failed": False}, {"failed": True, "msg": "item 3 bad"}],
    }
    assert error_message(loop) == "item 3 bad"
    modules = {"msg": "MODULE FAILURE", "failed_modules": {"setup": {"msg": "python missing"}}}
    assert error_message(modules) == "python missing"


def test_normalise_error_groups_hosts_numbers_paths_times():
    first = normalise_error(
        "edge-r1 at 10.0.0.1: file /srv/a.cfg failed at 2026-11-02 03:10:02 (42 tries)",
        ["edge-r1"],
    )
    second = normalise_error(
        "edge-r7 at 10.9.8.7: file /srv/b.cfg failed at 2026-11-03 11:00:59 (7 tries)",
        ["edge-r7"],
    )
    assert first == second
    assert first == "<host> at <ip>: file <path> failed at <time> (<n> tries)"


def test_timestamp_without_offset_is_utc():
    assert parse_timestamp("2026-11-02T03:10:02").utcoffset().total_seconds() == 0
    assert parse_timestamp("2026-11-02T05:10:02+02:00").hour == 3
