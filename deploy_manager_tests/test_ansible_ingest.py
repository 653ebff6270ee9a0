"""Ingest of Ansible output into the raw tables of a real PostgreSQL database."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from deploy_manager.db.connection import connect
from deploy_manager.netops.generator import write_artifacts, write_inventory
from deploy_manager.netops.load import ingest_landing

from .conftest import dump_tables, write_case_landing

RAW_TABLES = [
    "raw.ansible_runs",
    "raw.ansible_host_results",
    "raw.ansible_host_stats",
    "raw.ansible_run_sites",
    "raw.inventory",
    "raw.quarantine",
]
VOLATILE_COLUMNS = ("ingested_at", "quarantined_at", "id")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+(.*)$")


def parse_play_recap(stdout: str) -> dict[str, dict[str, int]]:
    """Per-host counts from the PLAY RECAP that ansible-playbook printed."""
    text = ANSI.sub("", stdout)
    recap = text.split("PLAY RECAP", 1)[1]
    counts = {}
    for line in recap.splitlines():
        match = RECAP_LINE.match(line.strip())
        if match:
            counts[match.group(1)] = {
                key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))
            }
    return counts


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """Artifacts of the demo playbooks, run for real by ansible-runner against local hosts."""
    from deploy_manager.demo.run import run_real_playbooks, write_demo_inventory

    root = tmp_path_factory.mktemp("ansible")
    landing = root / "landing"
    inventory = root / "runner" / "inventory" / "hosts.yml"
    snapshot = landing / "inventory" / "inventory-2026-01-01.json"
    write_demo_inventory(inventory, snapshot, ["SITE001", "SITE002", "SITE003", "SITE004"])
    idents = run_real_playbooks(root / "runner", landing / "ansible" / "runner", inventory)
    return landing, idents


@pytest.mark.ansible
def test_real_runs_host_stats_equal_play_recap(real_runs, fresh_database):
    landing, idents = real_runs
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        for ident in idents:
            stdout = (landing / "ansible" / "runner" / ident / "stdout").read_text()
            recap = parse_play_recap(stdout)
            rows = conn.execute(
                "SELECT host, ok, changed, failures, dark, skipped, rescued, ignored"
                " FROM raw.ansible_host_stats WHERE run_id = %s",
                (ident,),
            ).fetchall()
            stored = {
                host: {
                    "ok": ok,
                    "changed": changed,
                    "failed": failures,
                    "unreachable": dark,
                    "skipped": skipped,
                    "rescued": rescued,
                    "ignored": ignored,
                }
                for host, ok, changed, failures, dark, skipped, rescued, ignored in rows
            }
            assert stored == recap, ident


@pytest.mark.ansible
def test_real_runs_result_outcomes_equal_play_recap(real_runs, fresh_database):
    landing, idents = real_runs
    seen_outcomes = set()
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        for ident in idents:
            recap = parse_play_recap(
                (landing / "ansible" / "runner" / ident / "stdout").read_text()
            )
            for host, counts in recap.items():
                outcomes = dict(
                    conn.execute(
                        "SELECT outcome, count(*) FROM raw.ansible_host_results"
                        " WHERE run_id = %s AND host = %s GROUP BY outcome",
                        (ident, host),
                    ).fetchall()
                )
                seen_outcomes |= set(outcomes)
                assert outcomes.get("failed", 0) == counts["failed"], (ident, host)
                assert outcomes.get("unreachable", 0) == counts["unreachable"], (ident, host)
                assert outcomes.get("ignored", 0) == counts["ignored"], (ident, host)
                assert outcomes.get("rescued", 0) == counts["rescued"], (ident, host)
    assert {"failed", "ignored", "rescued", "unreachable", "changed", "skipped"} <= seen_outcomes


@pytest.mark.ansible
def test_real_runs_failure_text_comes_from_stderr(real_runs, fresh_database):
    landing, _ = real_runs
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        row = conn.execute(
            "SELECT error_message, error_normalised FROM raw.ansible_host_results"
            " WHERE host = 'edge-r2.site002' AND outcome = 'failed'"
        ).fetchone()
    assert row[0] == "commit check failed at line 12 of /srv/configs/edge-r2.site002.cfg"
    assert row[1] == "commit check failed at line <n> of <path>"


def _generated_landing(root: Path) -> Path:
    landing = root / "landing"
    sites = ["SITE001", "SITE002"]
    write_inventory(landing / "inventory" / "inv-2026-10-01.json", sites, 3)
    from datetime import date

    write_artifacts(
        landing / "ansible" / "generated",
        sites,
        [date(2026, 11, 1), date(2026, 11, 2)],
        hosts_per_site=3,
        seed=3,
    )
    write_case_landing(landing)
    return landing


def test_ingest_twice_changes_nothing(tmp_path, fresh_database):
    landing = _generated_landing(tmp_path)
    with connect(fresh_database) as conn:
        first_summary = ingest_landing(conn, landing)
        conn.commit()
        first = dump_tables(conn, RAW_TABLES, VOLATILE_COLUMNS)
        skipped = ingest_landing(conn, landing)
        forced = ingest_landing(conn, landing, force=True)
        conn.commit()
        second = dump_tables(conn, RAW_TABLES, VOLATILE_COLUMNS)
    assert first_summary.runs == 9
    assert skipped.runs == 0
    assert forced.runs == 9
    assert first == second


def test_non_ansible_file_is_quarantined_and_rest_ingested(tmp_path, fresh_database):
    landing = _generated_landing(tmp_path)
    stray = landing / "ansible" / "callback" / "maintenance.csv"
    stray.write_text("site,window\nSITE001,02:00\n")
    (landing / "ansible" / "callback" / "maintenance.meta.json").write_text(
        json.dumps({"run_id": "m", "playbook": "m.yml"})
    )
    with connect(fresh_database) as conn:
        summary = ingest_landing(conn, landing)
        conn.commit()
        rows = conn.execute(
            "SELECT location, reason, content FROM raw.quarantine WHERE source_path = %s",
            ("ansible/callback/maintenance.csv",),
        ).fetchall()
        runs = conn.execute("SELECT count(*) FROM raw.ansible_runs").fetchone()[0]
    assert len(rows) == 1
    assert "not Ansible json/jsonl callback output" in rows[0][1]
    assert rows[0][2] == "site,window\nSITE001,02:00\n"
    assert runs == summary.runs == 9


def test_callback_without_meta_names_the_fix(tmp_path, fresh_database):
    landing = _generated_landing(tmp_path)
    (landing / "ansible" / "callback" / "upgrade.meta.json").unlink()
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        reason = conn.execute(
            "SELECT reason FROM raw.quarantine WHERE source_path = 'ansible/callback/upgrade.txt'"
        ).fetchone()[0]
    assert "write upgrade.meta.json beside it" in reason


def test_invalid_site_name_is_rejected_with_rule(tmp_path, fresh_database):
    landing = tmp_path / "landing"
    (landing / "inventory").mkdir(parents=True)
    listing = {
        "_meta": {"hostvars": {"r9": {"site_id": "EAST|1"}}},
        "all": {"children": ["site_OK1"]},
        "site_OK1": {"hosts": ["r1"]},
    }
    (landing / "inventory" / "inv.json").write_text(json.dumps(listing))
    with connect(fresh_database) as conn:
        summary = ingest_landing(conn, landing)
        conn.commit()
        reason = conn.execute("SELECT reason FROM raw.quarantine").fetchone()[0]
    assert summary.sites == {"OK1"}
    assert "site id 'EAST|1' is invalid (contains '|')" in reason


def test_nul_bytes_and_oversized_results_are_kept(tmp_path, fresh_database):
    landing = tmp_path / "landing"
    write_inventory(landing / "inventory" / "inv.json", ["SITE001"], 1)
    run_dir = landing / "ansible" / "big-run"
    (run_dir / "job_events").mkdir(parents=True)
    (run_dir / "status").write_text("failed")
    (run_dir / "rc").write_text("2")
    huge = "x" * 100_000
    events = [
        (1, "playbook_on_start", {}),
        (
            2,
            "runner_on_failed",
            {
                "host": "edge-r1.site001",
                "task": "Dump",
                "task_uuid": "t1",
                "res": {"msg": "bad\u0000byte", "stdout": huge},
            },
        ),
        (
            3,
            "playbook_on_stats",
            {"failures": {"edge-r1.site001": 1}, "processed": {"edge-r1.site001": 1}},
        ),
    ]
    for counter, name, data in events:
        body = {
            "uuid": f"u{counter}",
            "counter": counter,
            "event": name,
            "created": "2026-11-02T01:00:00",
            "event_data": {"playbook": "p.yml", **data},
        }
        (run_dir / "job_events" / f"{counter}-u{counter}.json").write_text(json.dumps(body))
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        message, truncated, length, body = conn.execute(
            "SELECT error_message, result_truncated, result_length, result_json"
            " FROM raw.ansible_host_results"
        ).fetchone()
    assert message == "bad\ufffdbyte"
    assert truncated is True
    assert length > 100_000
    assert len(body) == 65_536


def test_run_without_events_is_stored_incomplete(tmp_path, fresh_database):
    landing = tmp_path / "landing"
    run_dir = landing / "ansible" / "empty-run"
    (run_dir / "job_events").mkdir(parents=True)
    (run_dir / "status").write_text("failed")
    (run_dir / "rc").write_text("127")
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        row = conn.execute("SELECT completeness, rc, run_date FROM raw.ansible_runs").fetchone()
    assert row == ("no_events", 127, None)


def _copy_landing(landing: Path, target: Path) -> Path:
    shutil.copytree(landing, target)
    return target


def _quarantine_rows(conn, source_path: str) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT location, reason, content FROM raw.quarantine WHERE source_path = %s"
        " ORDER BY location",
        (source_path,),
    ).fetchall()


def _run_sources(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT run_id, source_path FROM raw.ansible_runs").fetchall())


@pytest.mark.ansible
def test_copied_artifact_folder_is_quarantined(real_runs, tmp_path, fresh_database):
    source, idents = real_runs
    landing = _copy_landing(source, tmp_path / "landing")
    copy = landing / "ansible" / "zcopy" / idents[0]
    shutil.copytree(landing / "ansible" / "runner" / idents[0], copy)
    with connect(fresh_database) as conn:
        summary = ingest_landing(conn, landing)
        conn.commit()
        sources = _run_sources(conn)
        rows = _quarantine_rows(conn, f"ansible/zcopy/{idents[0]}")
    assert summary.runs == len(idents)
    assert sources == {ident: f"ansible/runner/{ident}" for ident in idents}
    assert len(rows) == 1
    location, reason, content = rows[0]
    assert location == "run_id"
    assert f"already ingested from ansible/runner/{idents[0]}" in reason
    assert "identical copy" in reason
    assert json.loads(content)["status"] == (copy / "status").read_text()


def test_callback_files_sharing_meta_keep_first(tmp_path, fresh_database):
    landing = _generated_landing(tmp_path)
    callback = landing / "ansible" / "callback"
    shutil.copy(callback / "upgrade.txt", callback / "upgrade.json")
    with connect(fresh_database) as conn:
        summary = ingest_landing(conn, landing)
        conn.commit()
        sources = _run_sources(conn)
        rows = _quarantine_rows(conn, "ansible/callback/upgrade.txt")
    assert summary.runs == 9
    assert sources["site104-upgrade-2026-11-02"] == "ansible/callback/upgrade.json"
    assert len(rows) == 1
    assert "already ingested from ansible/callback/upgrade.json" in rows[0][1]
    assert rows[0][2] == (callback / "upgrade.txt").read_text()


@pytest.mark.ansible
def test_other_run_with_taken_ident_is_quarantined(real_runs, tmp_path, fresh_database):
    source, idents = real_runs
    landing = _copy_landing(source, tmp_path / "landing")
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        before = conn.execute(
            "SELECT count(*) FROM raw.ansible_host_results WHERE run_id = %s", (idents[0],)
        ).fetchone()[0]
        # Another run (the second playbook) under the first run's ident, in another folder.
        shutil.copytree(
            landing / "ansible" / "runner" / idents[1], landing / "ansible" / "other" / idents[0]
        )
        summary = ingest_landing(conn, landing)
        conn.commit()
        after = conn.execute(
            "SELECT count(*) FROM raw.ansible_host_results WHERE run_id = %s", (idents[0],)
        ).fetchone()[0]
        sources = _run_sources(conn)
        rows = _quarantine_rows(conn, f"ansible/other/{idents[0]}")
    assert summary.runs == 0
    assert after == before
    assert sources[idents[0]] == f"ansible/runner/{idents[0]}"
    assert len(rows) == 1
    assert f"ansible/runner/{idents[0]}" in rows[0][1]
    assert f"ansible/other/{idents[0]}" in rows[0][1]


@pytest.mark.ansible
def test_bad_rc_file_quarantines_its_folder(real_runs, tmp_path, fresh_database):
    source, idents = real_runs
    landing = _copy_landing(source, tmp_path / "landing")
    (landing / "ansible" / "runner" / idents[0] / "rc").write_text("abc")
    with connect(fresh_database) as conn:
        summary = ingest_landing(conn, landing)
        conn.commit()
        sources = _run_sources(conn)
        rows = _quarantine_rows(conn, f"ansible/runner/{idents[0]}")
    assert summary.runs == len(idents) - 1
    assert set(sources) == set(idents[1:])
    assert len(rows) == 1
    assert rows[0][0] == "folder"
    assert "rc file contains 'abc'" in rows[0][1]
    assert json.loads(rows[0][2])["rc"] == "abc"


def test_fixed_callback_file_clears_quarantine(tmp_path, fresh_database):
    landing = _generated_landing(tmp_path)
    meta = landing / "ansible" / "callback" / "upgrade.meta.json"
    good_meta = meta.read_text()
    meta.write_text("{not json")
    with connect(fresh_database) as conn:
        first = ingest_landing(conn, landing)
        conn.commit()
        before = _quarantine_rows(conn, "ansible/callback/upgrade.txt")
        meta.write_text(good_meta)
        second = ingest_landing(conn, landing)
        conn.commit()
        after = _quarantine_rows(conn, "ansible/callback/upgrade.txt")
    assert first.runs == 8
    assert len(before) == 1
    assert "upgrade.meta.json is invalid" in before[0][1]
    assert second.runs == 1
    assert after == []


def test_utf16_callback_file_names_encoding(tmp_path, fresh_database):
    landing = _generated_landing(tmp_path)
    callback = landing / "ansible" / "callback"
    text = (callback / "upgrade.txt").read_text()
    (callback / "upgrade.txt").write_bytes(text.encode("utf-16"))
    with connect(fresh_database) as conn:
        summary = ingest_landing(conn, landing)
        conn.commit()
        rows = _quarantine_rows(conn, "ansible/callback/upgrade.txt")
    assert summary.runs == 8
    assert len(rows) == 1
    assert "file is UTF-16, not UTF-8: convert it to UTF-8" in rows[0][1]
    assert rows[0][2] == text


def test_latin1_callback_file_is_flagged(tmp_path, fresh_database):
    landing = _generated_landing(tmp_path)
    callback = landing / "ansible" / "callback"
    text = (callback / "upgrade.txt").read_text()
    latin1 = text.replace("Stage image", "Stage image (d\u00e9p\u00f4t)", 1)
    assert latin1 != text
    (callback / "upgrade.txt").write_bytes(latin1.encode("latin-1"))
    with connect(fresh_database) as conn:
        summary = ingest_landing(conn, landing)
        conn.commit()
        rows = _quarantine_rows(conn, "ansible/callback/upgrade.txt")
        tasks = {
            row[0]
            for row in conn.execute(
                "SELECT task FROM raw.ansible_host_results WHERE run_id = %s",
                ("site104-upgrade-2026-11-02",),
            )
        }
    assert summary.runs == 9
    assert "Stage image (d\ufffdp\ufffdt)" in tasks
    assert len(rows) == 1
    assert rows[0][0] == "encoding"
    assert "file is not valid UTF-8" in rows[0][1]
    assert rows[0][2] == latin1


def _run_task(work: Path, landing: Path, ident: str, task: str, **options):
    """Run a one-task playbook with ansible-runner into ``landing/ansible/runner/<ident>``."""
    import ansible_runner

    (work / "project").mkdir(parents=True, exist_ok=True)
    (work / "project" / "play.yml").write_text(
        f"- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Step\n      {task}\n"
    )
    return ansible_runner.run(
        private_data_dir=str(work),
        artifact_dir=str(landing / "ansible" / "runner"),
        playbook="play.yml",
        ident=ident,
        envvars={"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
        quiet=True,
        **options,
    )


@pytest.mark.ansible
def test_timed_out_run_counts_at_its_site(tmp_path, fresh_database):
    from deploy_manager.demo.run import write_demo_inventory

    landing = tmp_path / "landing"
    work = tmp_path / "runner"
    inventory = work / "inventory" / "hosts.yml"
    write_demo_inventory(inventory, landing / "inventory" / "inv-2026-01-01.json", ["SITE001"])
    runner = _run_task(
        work,
        landing,
        "slow-run",
        "ansible.builtin.command: sleep 60",
        inventory=str(inventory),
        settings={"job_timeout": 8},
    )
    assert runner.status == "timeout"
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        sites = conn.execute(
            "SELECT site_id, completeness FROM raw.ansible_run_sites WHERE run_id = 'slow-run'"
        ).fetchall()
        results = conn.execute("SELECT count(*) FROM raw.ansible_host_results").fetchone()[0]
    assert results == 0
    assert sites == [("SITE001", "timeout")]


@pytest.mark.ansible
def test_unreadable_module_result_keeps_stderr(tmp_path, fresh_database):
    landing = tmp_path / "landing"
    work = tmp_path / "runner"
    (work / "inventory").mkdir(parents=True)
    # An interpreter that fails before the module runs, as a pyenv shim without that version.
    interpreter = tmp_path / "python3.13"
    interpreter.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    interpreter.chmod(0o755)
    (work / "inventory" / "hosts").write_text(
        "[site_SITE001]\n"
        f"edge-r1.site001 ansible_connection=local ansible_python_interpreter={interpreter}\n"
    )
    write_inventory(landing / "inventory" / "inv-2026-01-01.json", ["SITE001"], 1)
    runner = _run_task(work, landing, "no-interpreter", "ansible.builtin.ping:")
    assert runner.status == "failed"
    with connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
        messages = conn.execute(
            "SELECT error_message FROM raw.ansible_host_results WHERE outcome = 'failed'"
        ).fetchall()
    assert messages == [("pyenv: python3.13: command not found",)]
