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


def new_database_url(prefix: str) -> str:
    return f"{TEST_SERVER_URL}/{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


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


@dataclass
class PlatformWorld:
    """A landing folder ingested and a rectangle of partitions materialized in one run."""

    settings: object
    defs: object
    instance: object
    database_url: str
    backfill_result: object
    spark: object

    def mart_rows(self, table: str) -> list:
        frame = self.spark.table(table).drop("processed_at")
        return sorted((tuple(row) for row in frame.collect()), key=repr)


@pytest.fixture(scope="session")
def platform_world(tmp_path_factory) -> Iterator[PlatformWorld]:
    from dagster import DagsterInstance

    from deploy_manager.db.connection import drop_database
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
        settings, defs, instance, database_url, result, SparkSession.builder.getOrCreate()
    )
    yield world
    world.spark.stop()
    os.environ.clear()
    os.environ.update(saved)
    drop_database(database_url)
