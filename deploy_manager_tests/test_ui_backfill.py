"""A rectangle of (date, site) partitions launched from the Dagster UI runs as one run.

The test starts the real webserver and sends the ``LaunchPipelineExecution`` mutation that
the Launchpad of the ``materialize_partitions`` job sends: the whole job, with the two
partition range tags added with "Edit tags". The webserver launches the run in a
subprocess, as it does for the UI.
"""

from __future__ import annotations

import time
from datetime import date

import psycopg
import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from deploy_manager.automation.schedules import PARTITIONS_JOB_NAME
from deploy_manager.definitions import PARTITIONED_ASSETS
from deploy_manager.netops.generator import write_artifacts, write_inventory
from deploy_manager.netops.load import ingest_landing

from .test_serve import graphql, platform_env, running_webserver

pytestmark = pytest.mark.spark

# Raw data covers 3 dates x 4 sites, and the launch covers the first 2 dates x the first 3 sites.
SITES = ["SITE001", "SITE002", "SITE003", "SITE004"]
DATES = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
RECTANGLE = [f"{day}|{site}" for day in DATES[:2] for site in SITES[:3]]
RUN_SECONDS = 1200

LOCATIONS_QUERY = """
{
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message }
        }
      }
    }
  }
}
"""
# The mutation of the Launchpad's "Launch Run" button (dagster-webserver 1.13.27).
LAUNCH_MUTATION = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id pipelineName } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
  }
}
"""
RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status tags { key value } } }
}
"""
RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# Without a daemon, the webserver must launch the run itself, as the daemon does when it
# dequeues a run of the served platform. The daemon would also start the schedules.
INSTANCE_YAML = """
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""


def _repository(port: int) -> tuple[str, str]:
    entries = graphql(port, LOCATIONS_QUERY)["data"]["workspaceOrError"]["locationEntries"]
    [entry] = entries
    location = entry["locationOrLoadError"]
    assert "repositories" in location, location
    [repository] = location["repositories"]
    return entry["name"], repository["name"]


def _launch(port: int, tags: dict[str, str]) -> str:
    location, repository = _repository(port)
    selector = {
        "repositoryLocationName": location,
        "repositoryName": repository,
        "pipelineName": PARTITIONS_JOB_NAME,
    }
    # A new Launchpad session selects no asset and no check, which runs the whole job.
    params = {
        "runConfigData": "{}",
        "selector": {**selector, "assetSelection": [], "assetCheckSelection": []},
        "mode": "default",
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    result = graphql(port, LAUNCH_MUTATION, {"executionParams": params})
    launched = result["data"]["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["id"]


def _wait_for_run(port: int, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        run = graphql(port, RUN_QUERY, {"runId": run_id})["data"]["runOrError"]
        if run["status"] in TERMINAL:
            return run
        time.sleep(5)
    raise AssertionError(f"run {run_id} did not finish within {RUN_SECONDS} s")


@pytest.fixture
def landing(tmp_path):
    root = tmp_path / "landing"
    write_inventory(root / "inventory" / "sites-2026-10-01.json", SITES, 2)
    write_artifacts(
        root / "ansible" / "generated", SITES, DATES, hosts_per_site=2, runs_per_site_day=1
    )
    return root


def test_launchpad_range_is_one_run(tmp_path, landing, fresh_database):
    with psycopg.connect(fresh_database) as conn:
        ingest_landing(conn, landing)
        conn.commit()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    instance.add_dynamic_partitions("site", SITES)
    env = platform_env(
        tmp_path,
        DAGSTER_HOME=str(home),
        DM_POSTGRES_URL=fresh_database,
        DM_LANDING_DIR=str(landing),
        DM_SPARK_DRIVER_MEMORY="1g",
    )
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: RECTANGLE[0],
        ASSET_PARTITION_RANGE_END_TAG: RECTANGLE[-1],
    }
    with running_webserver(env, tmp_path / "webserver.log") as port:
        run_id = _launch(port, tags)
        run = _wait_for_run(port, run_id)
        runs = graphql(port, RUNS_QUERY)["data"]["runsOrError"]["results"]

    evaluations = [
        event.dagster_event.event_specific_data
        for event in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    # sites_fresh is not partitioned, and it flags these past dates as late.
    failed = {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.description
        for e in evaluations
        if e.partition is not None and not e.passed
    }
    assert failed == {}
    assert run["status"] == "SUCCESS", (tmp_path / "webserver.log").read_text()[-3000:]
    assert [(r["runId"], r["jobName"]) for r in runs] == [(run_id, PARTITIONS_JOB_NAME)]
    run_tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert run_tags[ASSET_PARTITION_RANGE_START_TAG] == "2026-11-01|SITE001"
    assert run_tags[ASSET_PARTITION_RANGE_END_TAG] == "2026-11-02|SITE003"
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
    for asset in PARTITIONED_ASSETS:
        for key in asset.keys:
            materialized = instance.get_materialized_partitions(key)
            assert materialized == set(RECTANGLE), key.to_user_string()
    reconciled = {
        e.partition: e.passed
        for e in evaluations
        if e.asset_key == AssetKey(["netops", "ansible_deployment_metrics"])
        and e.check_name == "reconcile_total_executions"
    }
    assert reconciled == dict.fromkeys(RECTANGLE, True)
