"""Configuration backups and drift, loaded into a real PostgreSQL database of their own."""

from __future__ import annotations

import gzip
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from deploy_manager.db.connection import connect, drop_database, ensure_database
from deploy_manager.db.migrate import apply_migrations
from deploy_manager.netops.devices.config_backups import parse_collection_time, render_golden
from deploy_manager.netops.devices.drift import diff_lines
from deploy_manager.netops.devices.generator import GeneratedDevices, generate_device_data
from deploy_manager.netops.devices.load import ingest_config_backups, refresh_config_drift
from deploy_manager.netops.devices.normalise import detect_vendor, normalise_config

ADMIN_URL = os.environ.get("DM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RAW_TABLES = (
    "raw.config_backups",
    "raw.config_drift",
    "raw.quarantine",
    "raw.inventory",
    "raw.ansible_runs",
    "raw.ansible_host_stats",
    "raw.ingested_files",
)
DAY1 = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
DAY3 = datetime(2026, 11, 4, 3, 0, tzinfo=UTC)

IOS_TEMPLATE = """Building configuration...

Current configuration : {size} bytes
!
! Last configuration change at {changed} UTC by netops
! NVRAM config last updated at {saved} UTC by netops
!
version 17.9
service timestamps log datetime msec
hostname {hostname}
!
ntp clock-period {clock_period}
ntp server 192.0.2.10
!
interface GigabitEthernet0/0/0
 description {description}
 ip address 192.0.2.1 255.255.255.252
!
ip route 0.0.0.0 0.0.0.0 192.0.2.2
!
end
"""


def ios_config(
    *,
    hostname: str = "edge-r1",
    description: str = "uplink to core",
    size: int = 3120,
    changed: str = "03:00:12 Mon Nov 2 2026",
    saved: str = "03:00:14 Mon Nov 2 2026",
    clock_period: int = 17179869,
) -> str:
    return IOS_TEMPLATE.format(
        hostname=hostname,
        description=description,
        size=size,
        changed=changed,
        saved=saved,
        clock_period=clock_period,
    )


JUNOS_CONFIG = """## Last commit: 2026-11-02 03:00:11 UTC by netops
version 21.4R3.15;
system {
    host-name edge-j1;
}
interfaces {
    ge-0/0/0 {
        description "uplink to core";
    }
}
"""

EOS_CONFIG = """! Command: show running-config
! device: leaf1 (DCS-7050SX3-48YC8, EOS-4.30.1F)
! Startup-config last modified at Mon Nov  2 03:00:11 2026 by admin
!
hostname leaf1
!
interface Ethernet1
   description uplink
!
end
"""


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    name = f"deploy_manager_test_devices_{uuid.uuid4().hex[:12]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    ensure_database(url)
    with connect(url) as conn:
        apply_migrations(conn)
        conn.commit()
    yield url
    drop_database(url)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with connect(database_url) as connection:
        connection.execute(f"TRUNCATE {', '.join(RAW_TABLES)}")
        connection.commit()
        yield connection


def add_inventory(
    conn: psycopg.Connection, host: str, site_id: str, valid_from: datetime | None = None
) -> None:
    conn.execute(
        "INSERT INTO raw.inventory (host, site_id, valid_from, source_path)"
        " VALUES (%s, %s, %s, 'inventory.json')",
        (host, site_id, valid_from or datetime(2026, 1, 1, tzinfo=UTC)),
    )
    conn.commit()


def add_deployment(
    conn: psycopg.Connection, run_id: str, host: str, site_id: str, started_at: datetime
) -> None:
    conn.execute(
        "INSERT INTO raw.ansible_runs (run_id, playbook, status, rc, completeness, started_at,"
        " ended_at, run_date, duration_seconds, source_format, source_path, event_count,"
        " duplicate_events) VALUES (%s, 'site_upgrade.yml', 'successful', 0, 'complete', %s,"
        " %s, %s, 60, 'runner_artifacts', %s, 12, 0)",
        (run_id, started_at, started_at + timedelta(minutes=1), started_at.date(), run_id),
    )
    conn.execute(
        "INSERT INTO raw.ansible_host_stats (run_id, host, site_id, run_date, playbook, ok,"
        " changed, failures, dark, skipped, rescued, ignored, succeeded)"
        " VALUES (%s, %s, %s, %s, 'site_upgrade.yml', 5, 1, 0, 0, 0, 0, 0, true)",
        (run_id, host, site_id, started_at.date()),
    )
    conn.commit()


def write_backup(root: Path, when: datetime, device: str, text: str) -> Path:
    folder = root / when.strftime("%Y-%m-%dT%H%MZ")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{device}.cfg"
    path.write_text(text)
    return path


def drift_row(conn: psycopg.Connection, device: str, backup_time: datetime) -> dict:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM raw.config_drift WHERE device = %s AND backup_time = %s",
            (device, backup_time),
        ).fetchone()
    assert row is not None, f"no drift row for {device} at {backup_time}"
    return row


def table_snapshot(conn: psycopg.Connection, table: str) -> list[tuple]:
    return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()


def test_ios_volatile_lines_removed() -> None:
    normalised = normalise_config(ios_config())

    assert normalised.vendor == "cisco_ios"
    assert normalised.removed_line_count == 5
    assert normalised.removed_patterns == {
        "building-configuration": 1,
        "current-configuration-size": 1,
        "last-configuration-change": 1,
        "ntp-clock-period": 1,
        "nvram-last-updated": 1,
    }
    assert "ntp server 192.0.2.10" in normalised.lines
    assert not any("clock-period" in line for line in normalised.lines)


def test_junos_commit_line_removed() -> None:
    normalised = normalise_config(JUNOS_CONFIG)
    later = normalise_config(JUNOS_CONFIG.replace("03:00:11", "04:17:52"))

    assert normalised.vendor == "juniper_junos"
    assert normalised.removed_patterns == {"junos-last-commit": 1}
    assert later.normalised_sha256 == normalised.normalised_sha256
    assert later.raw_sha256 != normalised.raw_sha256


def test_eos_startup_config_line_removed() -> None:
    normalised = normalise_config(EOS_CONFIG)

    assert normalised.vendor == "arista_eos"
    assert normalised.removed_patterns == {"eos-startup-config-modified": 1}


def test_vendor_detection_table() -> None:
    cases = {
        "!Command: show running-config\n!Time: Mon Nov  2 03:00:00 2026\nfeature bgp\n": (
            "cisco_nxos"
        ),
        "set system host-name edge-j2\nset interfaces ge-0/0/0 unit 0\n": "juniper_junos",
        "hostname plain\ninterface eth0\n": "unknown",
    }
    for text, vendor in cases.items():
        assert detect_vendor(text) == vendor, text


def test_uptime_comment_removed_but_config_kept() -> None:
    text = ios_config() + "!Uptime: edge-r1 uptime is 3 weeks, 2 days\n"
    normalised = normalise_config(text)

    assert normalised.removed_patterns["uptime"] == 1
    assert "hostname edge-r1" in normalised.lines


def test_diff_cut_at_bound() -> None:
    before = [f"line {i}" for i in range(200)]
    after = [f"changed {i}" for i in range(200)]

    diff = diff_lines(before, after, before_label="a", after_label="b", max_chars=500)

    assert diff.truncated is True
    assert len(diff.text) <= 500
    assert diff.lines_added == 200
    assert diff.lines_removed == 200


def test_collection_folder_names() -> None:
    assert parse_collection_time("2026-11-02T0300Z") == DAY1
    assert parse_collection_time("daily-20261102T030000Z") == DAY1
    assert parse_collection_time("2026-11-02T04:00:00+01:00") == DAY1
    assert parse_collection_time("latest") is None
    with pytest.raises(ValueError, match="without UTC offset"):
        parse_collection_time("2026-11-02T0300")


def test_golden_placeholders_rendered() -> None:
    rendered = render_golden(
        "hostname {{ hostname }}\n! {{device}} at {{ site_id }}\n", "edge-r1.site104", "SITE104"
    )

    assert rendered == "hostname edge-r1\n! edge-r1.site104 at SITE104\n"


def test_volatile_only_change_gives_no_drift(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    write_backup(
        backups,
        DAY2,
        "edge-r1.site104",
        ios_config(
            size=3121,
            changed="02:59:01 Tue Nov 3 2026",
            saved="02:59:03 Tue Nov 3 2026",
            clock_period=17179870,
        ),
    )

    summary = ingest_config_backups(conn, backups, None)
    row = drift_row(conn, "edge-r1.site104", DAY2)
    stored = conn.execute(
        "SELECT removed_line_count, removed_patterns ? 'ntp-clock-period', vendor, site_id"
        " FROM raw.config_backups WHERE device = 'edge-r1.site104' AND backup_time = %s",
        (DAY2,),
    ).fetchone()

    assert summary.rows_inserted == 2
    assert row["drift_vs_previous"] is False
    assert row["volatile_only_change"] is True
    assert row["diff"] is None
    assert row["lines_added"] == 0
    assert row["lines_removed"] == 0
    assert row["expected"] is None
    assert stored == (5, True, "cisco_ios", "SITE104")


def test_first_backup_has_no_previous(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())

    ingest_config_backups(conn, backups, None)
    row = drift_row(conn, "edge-r1.site104", DAY1)

    assert row["drift_vs_previous"] is None
    assert row["previous_backup_time"] is None
    assert row["drift_vs_golden"] is None
    assert row["event_date"] == DAY1.date()


def test_real_change_stores_diff(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    write_backup(
        backups,
        DAY2,
        "edge-r1.site104",
        ios_config(description="uplink to core-2", changed="02:59:01 Tue Nov 3 2026"),
    )

    ingest_config_backups(conn, backups, None)
    row = drift_row(conn, "edge-r1.site104", DAY2)

    assert row["drift_vs_previous"] is True
    assert row["lines_added"] == 1
    assert row["lines_removed"] == 1
    assert "\n- description uplink to core\n" in row["diff"]
    assert "\n+ description uplink to core-2\n" in row["diff"]
    assert "Last configuration change" not in row["diff"]
    assert row["diff_truncated"] is False
    assert row["previous_backup_time"] == DAY1


def test_drift_after_deployment_is_expected(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    add_deployment(conn, "run-upgrade-1", "edge-r1.site104", "SITE104", DAY2 - timedelta(hours=3))
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    write_backup(backups, DAY2, "edge-r1.site104", ios_config(description="new uplink"))

    ingest_config_backups(conn, backups, None)
    row = drift_row(conn, "edge-r1.site104", DAY2)

    assert row["drift_vs_previous"] is True
    assert row["expected"] is True
    assert row["deployment_run_id"] == "run-upgrade-1"


def test_drift_without_deployment_is_unexpected(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    add_inventory(conn, "edge-r2.site104", "SITE104")
    # A run on another device in the window and a run on this device before the previous
    # backup explain nothing.
    add_deployment(conn, "run-other-host", "edge-r2.site104", "SITE104", DAY2 - timedelta(hours=3))
    add_deployment(conn, "run-too-early", "edge-r1.site104", "SITE104", DAY1 - timedelta(hours=1))
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    write_backup(backups, DAY2, "edge-r1.site104", ios_config(description="hand edit"))

    ingest_config_backups(conn, backups, None)
    row = drift_row(conn, "edge-r1.site104", DAY2)

    assert row["drift_vs_previous"] is True
    assert row["expected"] is False
    assert row["deployment_run_id"] is None


def test_deployment_window_setting(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    add_deployment(conn, "run-early", "edge-r1.site104", "SITE104", DAY2 - timedelta(hours=3))
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    write_backup(backups, DAY2, "edge-r1.site104", ios_config(description="new uplink"))

    ingest_config_backups(conn, backups, None, deployment_window=timedelta(hours=1))
    narrow = drift_row(conn, "edge-r1.site104", DAY2)
    ingest_config_backups(conn, backups, None, deployment_window=timedelta(hours=6))
    wide = drift_row(conn, "edge-r1.site104", DAY2)

    assert narrow["expected"] is False
    assert wide["expected"] is True


def test_late_runs_update_expected(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    write_backup(backups, DAY2, "edge-r1.site104", ios_config(description="new uplink"))

    ingest_config_backups(conn, backups, None)
    before = drift_row(conn, "edge-r1.site104", DAY2)
    add_deployment(conn, "run-late", "edge-r1.site104", "SITE104", DAY2 - timedelta(hours=2))
    refresh = refresh_config_drift(conn, None)
    after = drift_row(conn, "edge-r1.site104", DAY2)

    assert before["expected"] is False
    assert refresh.rows_written == 1
    assert after["expected"] is True
    assert after["deployment_run_id"] == "run-late"


def test_golden_comparison_per_role(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    add_inventory(conn, "edge-r2.site104", "SITE104")
    golden = tmp_path / "golden"
    golden.mkdir()
    (golden / "roles.csv").write_text("device,role\nedge-r*,edge-router\n")
    (golden / "edge-router.cfg").write_text(ios_config(hostname="{{ hostname }}"))
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config(hostname="edge-r1"))
    write_backup(
        backups, DAY1, "edge-r2.site104", ios_config(hostname="edge-r2", description="spare")
    )

    ingest_config_backups(conn, backups, golden)
    matching = drift_row(conn, "edge-r1.site104", DAY1)
    drifted = drift_row(conn, "edge-r2.site104", DAY1)

    assert matching["role"] == "edge-router"
    assert matching["drift_vs_golden"] is False
    assert matching["golden_diff"] is None
    assert drifted["drift_vs_golden"] is True
    assert drifted["golden_lines_added"] == 1
    assert "+ description spare" in drifted["golden_diff"]


def test_unknown_device_quarantined(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    stray = write_backup(backups, DAY1, "lab-r9", ios_config(hostname="lab-r9"))

    summary = ingest_config_backups(conn, backups, None)
    quarantined = conn.execute(
        "SELECT source_path, location, reason FROM raw.quarantine"
    ).fetchall()

    assert summary.rows_inserted == 1
    assert summary.quarantined == 1
    assert quarantined[0][0] == str(stray)
    assert quarantined[0][1] == "file"
    assert "'lab-r9' is in no inventory snapshot" in quarantined[0][2]
    assert "ingest the inventory" in quarantined[0][2]


def test_empty_backup_quarantined(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", "")

    summary = ingest_config_backups(conn, backups, None)
    reason = conn.execute("SELECT reason FROM raw.quarantine").fetchone()[0]

    assert summary.rows_inserted == 0
    assert "is empty" in reason


def git(repo: Path, *args: str, when: datetime | None = None) -> None:
    env = dict(os.environ)
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Backup",
            "-c",
            "user.email=backup@example.net",
            *args,
        ],
        check=True,
        capture_output=True,
        env=env,
    )


def test_git_history_layout(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    add_inventory(conn, "edge-r2.site104", "SITE104")
    add_deployment(conn, "run-git", "edge-r1.site104", "SITE104", DAY3 - timedelta(hours=1))
    repo = tmp_path / "oxidized"
    (repo / "site104").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    versions = [
        (DAY1, ios_config()),
        (DAY2, ios_config(changed="02:59:01 Tue Nov 3 2026", clock_period=17179870)),
        (DAY3, ios_config(description="uplink via ring")),
    ]
    for when, text in versions:
        (repo / "site104" / "edge-r1.site104.cfg").write_text(text)
        if when == DAY1:
            (repo / "site104" / "edge-r2.site104.cfg").write_text(ios_config(hostname="edge-r2"))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"backup {when.isoformat()}", when=when)

    summary = ingest_config_backups(conn, repo, None)
    stored = conn.execute(
        "SELECT backup_time, source, source_path, source_commit IS NOT NULL"
        " FROM raw.config_backups WHERE device = 'edge-r1.site104' ORDER BY backup_time"
    ).fetchall()
    volatile = drift_row(conn, "edge-r1.site104", DAY2)
    real = drift_row(conn, "edge-r1.site104", DAY3)

    assert summary.rows_inserted == 4
    assert [row[0] for row in stored] == [DAY1, DAY2, DAY3]
    assert {row[1] for row in stored} == {"git"}
    assert {row[2] for row in stored} == {"site104/edge-r1.site104.cfg"}
    assert all(row[3] for row in stored)
    assert volatile["drift_vs_previous"] is False
    assert real["drift_vs_previous"] is True
    assert "+ description uplink via ring" in real["diff"]
    assert real["expected"] is True
    assert real["deployment_run_id"] == "run-git"


def test_ingest_twice_changes_nothing(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    add_deployment(conn, "run-1", "edge-r1.site104", "SITE104", DAY2 - timedelta(hours=2))
    golden = tmp_path / "golden"
    golden.mkdir()
    (golden / "roles.csv").write_text("device,role\nedge-r1.site104,edge-router\n")
    (golden / "edge-router.cfg").write_text(ios_config())
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    write_backup(backups, DAY2, "edge-r1.site104", ios_config(description="new uplink"))
    write_backup(
        backups, DAY3, "edge-r1.site104", ios_config(description="new uplink", clock_period=1)
    )
    write_backup(backups, DAY3, "lab-r9", ios_config(hostname="lab-r9"))

    first = ingest_config_backups(conn, backups, golden)
    tables = ("raw.config_backups", "raw.config_drift", "raw.quarantine", "raw.ingested_files")
    before = {table: table_snapshot(conn, table) for table in tables}
    second = ingest_config_backups(conn, backups, golden)
    after = {table: table_snapshot(conn, table) for table in tables}

    assert first.rows_inserted == 3
    assert first.drift.rows_written == 3
    assert second.rows_inserted == 0
    assert second.rows_updated == 0
    assert second.quarantined == 0
    assert second.drift.rows_written == 0
    for table in tables:
        assert after[table] == before[table], table


def test_conflicting_backup_quarantined(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    first_tree = tmp_path / "first"
    second_tree = tmp_path / "second"
    write_backup(first_tree, DAY1, "edge-r1.site104", ios_config())
    conflicting = write_backup(second_tree, DAY1, "edge-r1.site104", ios_config(description="x"))

    ingest_config_backups(conn, first_tree, None)
    summary = ingest_config_backups(conn, second_tree, None)
    reason = conn.execute(
        "SELECT reason FROM raw.quarantine WHERE source_path = %s", (str(conflicting),)
    ).fetchone()[0]

    assert summary.rows_inserted == 0
    assert summary.quarantined == 1
    assert "already has a backup" in reason


def load_generated_references(conn: psycopg.Connection, generated: GeneratedDevices) -> None:
    for host, site_id, valid_from in generated.inventory:
        add_inventory(conn, host, site_id, valid_from)
    for deployment in generated.deployments:
        for host in deployment.hosts:
            add_deployment(
                conn, f"{deployment.run_id}-{host}", host, deployment.site_id, deployment.started_at
            )


def drift_counts(conn: psycopg.Connection) -> dict[str, int]:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE volatile_only_change),"
        " count(*) FILTER (WHERE drift_vs_previous AND expected),"
        " count(*) FILTER (WHERE drift_vs_previous AND NOT expected),"
        " count(*) FILTER (WHERE drift_vs_golden)"
        " FROM raw.config_drift"
    ).fetchone()
    return dict(zip(("volatile_only", "expected", "unexpected", "vs_golden"), row, strict=True))


@pytest.mark.parametrize("layout", ["folder", "git"])
def test_generated_backups_give_generated_drift(
    conn: psycopg.Connection, tmp_path: Path, layout: str
) -> None:
    generated = generate_device_data(
        tmp_path,
        sites=3,
        days=6,
        seed=11,
        layout=layout,
        deployment_rate=0.2,
        manual_change_rate=0.1,
    )
    load_generated_references(conn, generated)

    summary = ingest_config_backups(conn, generated.backup_source, generated.golden_dir)
    counts = drift_counts(conn)
    first_day = conn.execute(
        "SELECT bool_or(drift_vs_golden) FROM raw.config_drift WHERE event_date = '2026-11-01'"
    ).fetchone()[0]

    assert summary.rows_inserted == generated.backups
    assert summary.rejected == 0
    assert generated.expected_drifts > 0
    assert generated.unexpected_drifts > 0
    assert counts["volatile_only"] == generated.volatile_only_changes
    assert counts["expected"] == generated.expected_drifts
    assert counts["unexpected"] == generated.unexpected_drifts
    assert counts["vs_golden"] > 0
    assert first_day is False


def test_generator_is_deterministic(tmp_path: Path) -> None:
    first = generate_device_data(tmp_path / "a", sites=2, days=3, seed=5)
    second = generate_device_data(tmp_path / "b", sites=2, days=3, seed=5)
    files_a = sorted(p.relative_to(first.root) for p in first.root.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(second.root) for p in second.root.rglob("*") if p.is_file())

    assert files_a == files_b
    for relative in files_a:
        assert (first.root / relative).read_bytes() == (second.root / relative).read_bytes()


def test_bare_repository_without_suffixes(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    work = tmp_path / "work"
    (work / "site104").mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for when, description in ((DAY1, "uplink to core"), (DAY2, "uplink to core-2")):
        (work / "site104" / "edge-r1.site104").write_text(ios_config(description=description))
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "edge-r1.site104", when=when)
    bare = tmp_path / "devices.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))

    summary = ingest_config_backups(conn, bare, None)
    row = drift_row(conn, "edge-r1.site104", DAY2)

    assert summary.rows_inserted == 2
    assert row["drift_vs_previous"] is True
    assert row["lines_added"] == 1


def test_binary_backup_quarantined(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    binary = write_backup(backups, DAY2, "edge-r1.site104", "")
    binary.write_bytes(gzip.compress(ios_config(hostname="edge-r1-new").encode()))

    summary = ingest_config_backups(conn, backups, None)
    rows = conn.execute("SELECT source_path, location, reason FROM raw.quarantine").fetchall()
    drift_times = conn.execute("SELECT backup_time FROM raw.config_drift").fetchall()

    assert summary.rows_inserted == 1
    assert drift_times == [(DAY1,)]
    assert len(rows) == 1
    assert rows[0][0] == str(binary)
    assert rows[0][1] == "file"
    assert "'edge-r1.site104' is not a text configuration" in rows[0][2]
    assert "file is binary, not text (NUL byte at offset" in rows[0][2]


def test_fixed_backup_leaves_no_quarantine(conn: psycopg.Connection, tmp_path: Path) -> None:
    add_inventory(conn, "edge-r1.site104", "SITE104")
    backups = tmp_path / "devices" / "backups"
    write_backup(backups, DAY1, "edge-r1.site104", ios_config())
    broken = write_backup(backups, DAY2, "edge-r1.site104", "")

    ingest_config_backups(conn, backups, None, landing=tmp_path)
    before = conn.execute("SELECT source_path, reason FROM raw.quarantine").fetchall()
    broken.write_text(ios_config())
    ingest_config_backups(conn, backups, None, landing=tmp_path)
    after = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
    stored = conn.execute("SELECT count(*) FROM raw.config_backups").fetchone()[0]

    assert len(before) == 1
    assert before[0][0] == str(broken.relative_to(tmp_path))
    assert "is empty" in before[0][1]
    assert after == 0
    assert stored == 2
