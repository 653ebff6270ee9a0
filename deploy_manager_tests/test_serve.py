"""Serving: the Dagster webserver responds on a free loopback port and lists the assets over
GraphQL, and scripts/serve.sh starts and stops the webserver, the daemon and the API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError

import psycopg
import pytest

from deploy_manager.db.connection import drop_database, ensure_database

from .conftest import REPO, WORLD_PSEUDONYM_KEY, new_database_url
from .test_core5g_ingest_asset import write_small_core5g_landing

BIN = Path(sys.executable).parent
ASSET_QUERY = "{ assetNodes { assetKey { path } } }"
STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {STARTUP_SECONDS} s")


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def asset_paths(port: int) -> set[str]:
    nodes = graphql(port, ASSET_QUERY)["data"]["assetNodes"]
    return {"/".join(node["assetKey"]["path"]) for node in nodes}


def platform_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DM_DATA_DIR": str(tmp_path / "data"),
        "DM_LANDING_DIR": str(tmp_path / "data" / "landing"),
        **extra,
    }


@contextmanager
def running_webserver(env: dict[str, str], log_path: Path) -> Iterator[int]:
    """Run ``dagster-webserver`` on workspace.yaml at a free loopback port and yield the port.

    The webserver runs in its own session, so the code server and the run workers it starts
    end with it.
    """
    port = free_port()
    command = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/server_info", process)
            yield port
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def test_webserver_lists_assets_over_graphql(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = platform_env(tmp_path, DAGSTER_HOME=str(home))
    with running_webserver(env, tmp_path / "webserver.log") as port:
        paths = asset_paths(port)
    assert "netops/ansible_deployment_metrics" in paths
    assert "netops/deployment_failure_analysis" in paths
    assert "kpi/site_health_daily" in paths
    assert "raw/inventory" in paths


@pytest.fixture
def serve_databases():
    urls = {name: new_database_url(f"dm_serve_{name}") for name in ("raw", "dagster")}
    ensure_database(urls["raw"])
    yield urls
    for url in urls.values():
        drop_database(url)


def _serve(action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO / "scripts" / "serve.sh"), action],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS + 120,
        check=False,
    )


def _running(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (FileNotFoundError, ProcessLookupError):
        return False
    return True


def test_serve_script_starts_and_stops_platform(tmp_path, serve_databases):
    web_port, api_port = free_port(), free_port()
    env = platform_env(
        tmp_path,
        PATH=f"{BIN}:{os.environ['PATH']}",
        DM_POSTGRES_URL=serve_databases["raw"],
        DAGSTER_HOME=str(REPO),
        DAGSTER_PG_DB=serve_databases["dagster"].rsplit("/", 1)[1],
        DM_DAGSTER_PORT=str(web_port),
        DM_API_PORT=str(api_port),
    )
    run_dir = tmp_path / "data" / "run"
    try:
        started = _serve("start", env)
        assert started.returncode == 0, started.stdout + started.stderr
        status = _serve("status", env)
        paths = asset_paths(web_port)
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/alerts", timeout=30) as r:
            alerts = json.loads(r.read())
        pids = {name: run_dir / f"{name}.pid" for name in ("webserver", "daemon", "api")}
        running = {name: _running(path) for name, path in pids.items()}
    finally:
        stopped = _serve("stop", env)
    after = _serve("status", env)

    assert status.returncode == 0, status.stdout
    assert running == {"webserver": True, "daemon": True, "api": True}
    assert "kpi/site_health_daily" in paths
    assert alerts["count"] == 0
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert after.returncode == 1
    assert not any(run_dir.glob("*.pid"))
    assert (tmp_path / "data" / "logs" / "daemon.log").stat().st_size > 0


def _ingest_statuses(dagster_url: str) -> list[str]:
    with psycopg.connect(dagster_url) as conn:
        rows = conn.execute(
            "SELECT status FROM runs WHERE pipeline_name = 'ingest_landing' ORDER BY id"
        ).fetchall()
    return [status for (status,) in rows]


def _wait_for_ingest(dagster_url: str, status: str, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    statuses = _ingest_statuses(dagster_url)
    while status not in statuses and time.monotonic() < deadline:
        time.sleep(3)
        statuses = _ingest_statuses(dagster_url)
    return statuses


def test_served_sensor_retries_ingest_with_key_file(tmp_path, serve_databases):
    landing = tmp_path / "data" / "landing"
    write_small_core5g_landing(landing, "SITE777")
    web_port, api_port = free_port(), free_port()
    # No DM_* variable of the test session (the platform world's landing folder, database and
    # key) may reach the served processes: the key must come from the key file alone.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DM_"))}
    env = {
        **environment,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "DM_DATA_DIR": str(tmp_path / "data"),
        "DM_POSTGRES_URL": serve_databases["raw"],
        "DAGSTER_PG_DB": serve_databases["dagster"].rsplit("/", 1)[1],
        "DM_DAGSTER_PORT": str(web_port),
        "DM_API_PORT": str(api_port),
        "DM_LANDING_SENSOR_INTERVAL_SECONDS": "5",
        "DM_LANDING_SETTLE_SECONDS": "0",
        "DM_LANDING_RETRY_SECONDS": "0",
    }
    try:
        started = _serve("start", env)
        assert started.returncode == 0, started.stdout + started.stderr
        before_key = _wait_for_ingest(serve_databases["dagster"], "FAILURE", STARTUP_SECONDS)
        # The key file the demo writes; the served processes read it without any variable.
        (tmp_path / "data" / "pseudonym.key").write_text(WORLD_PSEUDONYM_KEY + "\n")
        after_key = _wait_for_ingest(serve_databases["dagster"], "SUCCESS", STARTUP_SECONDS)
        time.sleep(15)
        settled = _ingest_statuses(serve_databases["dagster"])
    finally:
        stopped = _serve("stop", env)
    with psycopg.connect(serve_databases["raw"]) as conn:
        attempts = conn.execute("SELECT count(*) FROM raw.amf_registration_attempts").fetchone()
    daemon_log = (tmp_path / "data" / "logs" / "daemon.log").read_text()

    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert before_key[0] == "FAILURE"
    assert "SUCCESS" in after_key, after_key
    assert settled.count("SUCCESS") == 1, settled
    assert attempts == (1,)
    assert WORLD_PSEUDONYM_KEY not in daemon_log
