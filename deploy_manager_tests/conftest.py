"""Shared fixtures: real PostgreSQL databases, and one platform world per test run in which
real and generated Ansible output has been ingested and materialized by Spark."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent
CASES_DIR = Path(os.environ.get("DM_CASES_DIR", REPO.parent / "shared" / "cases"))
TEST_SERVER_URL = os.environ.get("DM_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")

WORLD_DATES = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
WORLD_GENERATED_SITES = ["SITE001", "SITE002", "SITE003"]
CASE_SITE = "SITE104"
# With this seed the generated deployments change core-s1.site001 and core-s1.site002 on
# the second day and core-s1.site003 on the third, so core-s1.site001 has no deployment on
# the third day.
DEVICE_SEED = 3
WORLD_PSEUDONYM_KEY = "6d" * 32
# The 5G input cases, all at CASE_SITE, below this folder of the 5G core landing.
CORE5G_CASES = "cases"


def pytest_configure(config) -> None:
    if not CASES_DIR.is_dir():
        raise pytest.UsageError(
            f"reference input cases not found at {CASES_DIR}: set DM_CASES_DIR to the folder "
            "that holds ansible/ and core5g/ cases"
        )


def new_database_url(prefix: str) -> str:
    """URL of a database that no other test run uses. DM_TEST_DATABASE_PREFIX, when set, goes
    before the name, so that runs sharing a server can tell their databases apart."""
    shared = os.environ.get("DM_TEST_DATABASE_PREFIX", "")
    return f"{TEST_SERVER_URL}/{shared}{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """URL of a new, migrated database, dropped after the test."""
    from deploy_manager.db.connection import connect, drop_database, ensure_database
    from deploy_manager.db.migrate import apply_migrations

    url = new_database_url("dm_test")
    ensure_database(url)
    with connect(url) as conn:
        apply_migrations(conn)
        conn.commit()
    yield url
    drop_database(url)


def dump_tables(conn: psycopg.Connection, tables: list[str], ignore: tuple[str, ...] = ()) -> dict:
    """Every row of each table, sorted, without the columns in ``ignore``."""
    dump = {}
    for table in tables:
        cursor = conn.execute(f"SELECT * FROM {table}")  # test-owned table names
        names = [c.name for c in cursor.description]
        keep = [i for i, name in enumerate(names) if name not in ignore]
        rows = [tuple(row[i] for i in keep) for row in cursor.fetchall()]
        dump[table] = sorted(rows, key=repr)
    return dump


def write_case_landing(landing: Path) -> None:
    """Put the json callback case and its inventory (both hosts at SITE104) in a landing."""
    callback = landing / "ansible" / "callback"
    callback.mkdir(parents=True, exist_ok=True)
    shutil.copy(CASES_DIR / "ansible" / "json-callback-failed-run.txt", callback / "upgrade.txt")
    (callback / "upgrade.meta.json").write_text(
        json.dumps({"run_id": "site104-upgrade-2026-11-02", "playbook": "site_upgrade.yml"})
    )
    listing = {
        "_meta": {"hostvars": {}},
        "all": {"children": ["ungrouped", f"site_{CASE_SITE}"]},
        f"site_{CASE_SITE}": {"hosts": ["edge-r1.site104", "edge-r2.site104"]},
    }
    inventory = landing / "inventory"
    inventory.mkdir(parents=True, exist_ok=True)
    (inventory / "site104-2026-10-01.json").write_text(json.dumps(listing))


@dataclass(frozen=True)
class ManualChange:
    """A configuration line changed by hand in one backup, with no deployment to explain it."""

    device: str
    site_id: str
    day: date
    removed_line: str
    added_line: str


def write_manual_change(landing: Path, deployments: list, day: date) -> ManualChange:
    """Change the uplink description in the ``day`` backup of a core switch that no
    generated deployment touched on that day."""
    deployed = {host for d in deployments if d.started_at.date() == day for host in d.hosts}
    site = next(s for s in WORLD_GENERATED_SITES if f"core-s1.{s.lower()}" not in deployed)
    device = f"core-s1.{site.lower()}"
    backup = landing / "devices" / "backups" / f"{day}T0300Z" / site.lower() / f"{device}.cfg"
    removed, added = "   description uplink to core", "   description uplink to core (temporary)"
    text = backup.read_text()
    assert f"\n{removed}\n" in text, backup
    backup.write_text(text.replace(f"\n{removed}\n", f"\n{added}\n"))
    return ManualChange(device, site, day, removed, added)


def write_counter_reset(landing: Path, device: str, day: date, hour: int) -> None:
    """Make the interface counters of ``device`` restart from 0 at ``hour`` on ``day``, as
    after a reboot, in the generated metrics files of that day and the days after."""
    counters = ("if_in_errors", "if_out_errors", "if_in_discards", "if_out_discards")
    reboot = f"{day}T{hour:02d}:00:00Z"
    base: dict[str, float] | None = None
    for path in sorted((landing / "devices" / "metrics").glob("*.jsonl")):
        lines = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                lines.append(line)
                continue
            metrics = record["metrics"]
            after_reboot = str(record["timestamp"]) >= reboot
            if record["device"] == device and after_reboot and "if_in_errors" in metrics:
                if base is None:
                    base = {name: metrics[name] - 1 for name in counters}
                for name in counters:
                    metrics[name] -= base[name]
            lines.append(json.dumps(record))
        path.write_text("\n".join(lines) + "\n")


def core5g_case_sources() -> list[dict]:
    """sources.json entries of the 5G input cases: the Open5GS AMF log collected on
    2026-11-02 on a UTC clock, the free5GC AMF log and the two scrapes of the Open5GS AMF."""
    common = {"site_id": CASE_SITE, "nf": "amf"}
    return [
        {
            **common,
            "pattern": f"{CORE5G_CASES}/open5gs-amf.log",
            "instance": "amf-1",
            "format": "open5gs_log",
            "timezone": "UTC",
            "collected_on": "2026-11-02",
        },
        {
            **common,
            "pattern": f"{CORE5G_CASES}/free5gc-amf.log",
            "instance": "amf-2",
            "format": "free5gc_log",
            "timezone": "+05:30",
        },
        {
            **common,
            "pattern": f"{CORE5G_CASES}/open5gs-amf-metrics.prom",
            "instance": "amf-1",
            "format": "prometheus_text",
            "timezone": "UTC",
            "scraped_at": "2026-11-02T08:00:00Z",
        },
        {
            **common,
            "pattern": f"{CORE5G_CASES}/open5gs-amf-metrics-after-restart.prom",
            "instance": "amf-1",
            "format": "prometheus_text",
            "timezone": "UTC",
            "scraped_at": "2026-11-02T09:00:00Z",
        },
    ]


def write_core5g_landing(folder: Path):
    """Generate a small 5G core landing for WORLD_GENERATED_SITES x WORLD_DATES and add the
    5G input cases at CASE_SITE; returns the generator's result."""
    from deploy_manager.core5g.sources.generator import (
        GeneratorSettings,
        generate_core5g_landing,
    )

    settings = GeneratorSettings(
        sites=len(WORLD_GENERATED_SITES),
        days=len(WORLD_DATES),
        start_date=WORLD_DATES[0],
        registrations_per_site_day=400,
        ues_per_site=200,
        workers=1,
    )
    generated = generate_core5g_landing(folder, settings)
    assert [site.site_id for site in generated.sites] == WORLD_GENERATED_SITES
    cases = folder / CORE5G_CASES
    cases.mkdir()
    for path in (CASES_DIR / "core5g").iterdir():
        shutil.copy(path, cases / path.name)
    config_path = folder / "sources.json"
    config = json.loads(config_path.read_text())
    config["sources"] = core5g_case_sources() + config["sources"]
    config_path.write_text(json.dumps(config, indent=2))
    return generated


@dataclass
class PlatformWorld:
    """A landing folder ingested and a rectangle of partitions materialized in one run."""

    settings: object
    defs: object
    instance: object
    database_url: str
    backfill_result: object
    spark: object
    devices: object
    manual_change: ManualChange
    core5g: object = None

    def mart_rows(self, table: str) -> list:
        frame = self.spark.table(table).drop("processed_at")
        return sorted((tuple(row) for row in frame.collect()), key=repr)


@pytest.fixture(scope="session")
def platform_world(tmp_path_factory) -> Iterator[PlatformWorld]:
    from dagster import DagsterInstance

    from deploy_manager.db.connection import drop_database
    from deploy_manager.netops.devices.generator import write_device_landing
    from deploy_manager.netops.generator import write_artifacts, write_inventory
    from deploy_manager.pipeline import ingest, materialize_rectangle
    from deploy_manager.settings import load_settings

    root = tmp_path_factory.mktemp("platform")
    database_url = new_database_url("dm_world")
    saved = dict(os.environ)
    os.environ.update(
        DM_DATA_DIR=str(root / "data"),
        DM_POSTGRES_URL=database_url,
        DM_LANDING_DIR=str(root / "landing"),
        DM_SPARK_DRIVER_MEMORY="1g",
        DM_PSEUDONYM_KEY=WORLD_PSEUDONYM_KEY,
    )
    landing = root / "landing"
    write_inventory(landing / "inventory" / "sites-2026-10-01.json", WORLD_GENERATED_SITES, 3)
    write_artifacts(
        landing / "ansible" / "generated",
        WORLD_GENERATED_SITES,
        WORLD_DATES,
        hosts_per_site=3,
        runs_per_site_day=3,
        failure_rate=0.05,
        seed=11,
    )
    write_case_landing(landing)
    (landing / "ansible" / "callback" / "notes.md").write_text("# maintenance notes\n")
    devices = write_device_landing(
        landing,
        sites=len(WORLD_GENERATED_SITES),
        days=len(WORLD_DATES),
        devices_per_site=3,
        start=WORLD_DATES[0],
        seed=DEVICE_SEED,
        deployment_rate=0.3,
        manual_change_rate=0.0,
    )
    manual_change = write_manual_change(landing, devices.deployments, WORLD_DATES[-1])
    write_counter_reset(landing, "border-j1.site002", WORLD_DATES[1], hour=12)
    core5g = write_core5g_landing(landing / "core5g")

    from deploy_manager.db.connection import ensure_database
    from deploy_manager.definitions import build_definitions

    settings = load_settings()
    ensure_database(database_url)
    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    assert ingest(defs, instance).success
    result = materialize_rectangle(defs, instance, WORLD_DATES[0], WORLD_DATES[-1])
    from pyspark.sql import SparkSession

    world = PlatformWorld(
        settings,
        defs,
        instance,
        database_url,
        result,
        SparkSession.builder.getOrCreate(),
        devices=devices,
        manual_change=manual_change,
        core5g=core5g,
    )
    yield world
    world.spark.stop()
    os.environ.clear()
    os.environ.update(saved)
    drop_database(database_url)
