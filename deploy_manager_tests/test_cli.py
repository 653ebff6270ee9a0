"""The command line: port and worker options checked before anything starts, one Dagster
instance in PostgreSQL by default, and the error for an empty site list."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest

from deploy_manager.db.connection import drop_database, ensure_database
from deploy_manager.netops.generator import write_artifacts, write_inventory

from .conftest import REPO, new_database_url

CLI = Path(sys.executable).with_name("deploy-manager")


def _cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env_without_instance(tmp_path: Path, **extra: str) -> dict[str, str]:
    # The session's platform world sets DM_* variables (its landing folder and database), so
    # the child process gets none of them unless a test passes them.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DM_"))}
    return {**environment, "DM_DATA_DIR": str(tmp_path / "data"), **extra}


@pytest.mark.parametrize("port", ["99999", "0", "80a", "-1"])
def test_serve_api_rejects_invalid_port(tmp_path, port):
    result = _cli(["serve-api", f"--port={port}"], _env_without_instance(tmp_path), timeout=60)
    assert result.returncode == 2
    assert f"{port!r} is not a TCP port" in result.stderr
    assert "1 to 65535" in result.stderr


def test_serve_api_rejects_zero_workers(tmp_path):
    result = _cli(["serve-api", "--workers", "0"], _env_without_instance(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "'0' is invalid: use a whole number >= 1" in result.stderr


def test_serve_api_rejects_port_variable(tmp_path):
    env = _env_without_instance(tmp_path, DM_API_PORT="70000")
    result = _cli(["serve-api"], env, timeout=60)
    assert result.returncode == 2
    assert "DM_API_PORT='70000' is invalid" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_instance_file_named(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = _cli(["migrate"], _env_without_instance(tmp_path, DAGSTER_HOME=str(home)))
    assert result.returncode == 2
    assert f"DAGSTER_HOME='{home}' has no dagster.yaml" in result.stderr


def test_invalid_instance_port_named(tmp_path):
    result = _cli(["migrate"], _env_without_instance(tmp_path, DAGSTER_PG_PORT="543200"))
    assert result.returncode == 2
    assert "DAGSTER_PG_PORT='543200' is not a TCP port" in result.stderr


@pytest.fixture
def cli_databases():
    urls = {name: new_database_url(f"dm_cli_{name}") for name in ("raw", "dagster")}
    ensure_database(urls["raw"])
    yield urls
    for url in urls.values():
        drop_database(url)


def test_default_instance_is_postgres(tmp_path, cli_databases):
    landing = tmp_path / "data" / "landing"
    write_inventory(landing / "inventory" / "inv.json", ["SITE001", "SITE002"], 2)
    write_artifacts(landing / "ansible", ["SITE001"], [date(2026, 11, 2)], hosts_per_site=2)
    env = _env_without_instance(
        tmp_path,
        DM_POSTGRES_URL=cli_databases["raw"],
        DAGSTER_PG_DB=cli_databases["dagster"].rsplit("/", 1)[1],
    )
    ingest = _cli(["ingest"], env)
    empty = _cli(["materialize", "--from", "2026-11-02", "--to", "2026-11-02", "--sites"], env)
    with psycopg.connect(cli_databases["dagster"]) as conn:
        runs = conn.execute("SELECT pipeline_name, status FROM runs").fetchall()
        sites = conn.execute(
            "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'site'"
        ).fetchall()

    assert ingest.returncode == 0, ingest.stderr[-3000:]
    assert runs == [("ingest_landing", "SUCCESS")]
    assert sorted(sites) == [("SITE001",), ("SITE002",)]
    assert "No dagster instance configuration file" not in ingest.stderr
    assert "telemetry" not in ingest.stderr.lower()
    assert "alembic" not in ingest.stderr
    assert not (tmp_path / "data" / "dagster").exists()
    assert empty.returncode == 2
    assert "the site list is empty" in empty.stderr
    assert "registered: SITE001, SITE002" in empty.stderr
    assert "no sites are registered" not in empty.stderr
