"""With the documented variables set, the Hive metastore and the Dagster instance live in
PostgreSQL; the command line runs ingest and a backfill against them in child processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from deploy_manager.db.connection import drop_database, ensure_database
from deploy_manager.netops.generator import write_artifacts, write_inventory

from .conftest import REPO, new_database_url

pytestmark = pytest.mark.spark


@pytest.fixture
def server_databases():
    urls = {name: new_database_url(f"dm_{name}") for name in ("raw", "meta", "dagster")}
    for url in urls.values():
        ensure_database(url)
    yield urls
    for url in urls.values():
        drop_database(url)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("deploy-manager")), *args]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_metastore_and_instance_in_postgres(tmp_path, server_databases):
    landing = tmp_path / "landing"
    write_inventory(landing / "inventory" / "inv.json", ["SITE001", "SITE002"], 2)
    write_artifacts(
        landing / "ansible",
        ["SITE001", "SITE002"],
        [date(2026, 11, 1), date(2026, 11, 2)],
        hosts_per_site=2,
        seed=5,
    )
    meta = urlsplit(server_databases["meta"])
    dagster_db = urlsplit(server_databases["dagster"])
    env = {
        **os.environ,
        "DM_DATA_DIR": str(tmp_path / "data"),
        "DM_LANDING_DIR": str(landing),
        "DM_POSTGRES_URL": server_databases["raw"],
        "DM_METASTORE_URL": f"jdbc:postgresql://{meta.hostname}:{meta.port}{meta.path}"
        f"?user={meta.username}",
        "DAGSTER_HOME": str(REPO),
        "DAGSTER_PG_USERNAME": dagster_db.username or "postgres",
        "DAGSTER_PG_PASSWORD": dagster_db.password or "",
        "DAGSTER_PG_HOST": dagster_db.hostname,
        "DAGSTER_PG_PORT": str(dagster_db.port),
        "DAGSTER_PG_DB": dagster_db.path.lstrip("/"),
        "DAGSTER_STORAGE_DIR": str(tmp_path / "dagster-storage"),
        "DM_SPARK_DRIVER_MEMORY": "1g",
    }
    ingest = _cli(["ingest"], env)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    backfill = _cli(["materialize", "--from", "2026-11-01", "--to", "2026-11-02"], env)
    assert backfill.returncode == 0, backfill.stderr[-3000:]

    with psycopg.connect(server_databases["meta"]) as conn:
        tables = {row[0] for row in conn.execute('SELECT "TBL_NAME" FROM "TBLS"')}
        partitions = dict(
            conn.execute(
                'SELECT t."TBL_NAME", count(*) FROM "PARTITIONS" p'
                ' JOIN "TBLS" t ON t."TBL_ID" = p."TBL_ID" GROUP BY 1'
            ).fetchall()
        )
    assert {"ansible_deployment_metrics", "site_health_daily"} <= tables
    assert partitions["ansible_deployment_metrics"] == 2 * 2
    assert partitions["site_health_daily"] == 2 * 2
    with psycopg.connect(server_databases["dagster"]) as conn:
        jobs = sorted(row[0] for row in conn.execute("SELECT pipeline_name FROM runs"))
    assert jobs == ["ingest_landing", "materialize_partitions"]
    orc_files = list((tmp_path / "data" / "warehouse").rglob("*.orc"))
    assert orc_files
