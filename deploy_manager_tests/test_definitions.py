"""The code location loads, validates and shows raw to mart to KPI lineage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey

from deploy_manager.definitions import defs
from deploy_manager.partitions import InvalidSiteIdError, validate_site_id
from deploy_manager.resources import spark as spark_resources
from deploy_manager.settings import load_settings

REPO = Path(__file__).resolve().parent.parent


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_asset_graph_lineage_raw_to_mart_to_kpi():
    graph = defs.resolve_asset_graph()
    kpi = AssetKey(["kpi", "site_health_daily"])
    upstream = graph.get(kpi).parent_keys
    assert AssetKey(["netops", "ansible_deployment_metrics"]) in upstream
    metrics_parents = graph.get(AssetKey(["netops", "ansible_deployment_metrics"])).parent_keys
    assert AssetKey(["raw", "ansible_run_sites"]) in metrics_parents
    raw_parents = graph.get(AssetKey(["raw", "ansible_run_sites"])).parent_keys
    assert AssetKey(["raw", "inventory"]) in raw_parents


def test_spark_assets_have_single_run_backfill_policy():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] in ("netops", "kpi", "core5g") or node.partitions_def is not None:
            assert node.backfill_policy is not None, key
            assert node.backfill_policy.max_partitions_per_run is None, key


@pytest.mark.parametrize("name", ["A|B", "S[1]", "S,2", "", "-lead", "x" * 65])
def test_invalid_site_ids_are_rejected(name):
    with pytest.raises(InvalidSiteIdError, match="is invalid"):
        validate_site_id(name)


def test_valid_site_id_is_returned():
    assert validate_site_id("SITE001") == "SITE001"


def test_spark_config_without_local_fs_jar(monkeypatch, tmp_path, caplog):
    """Without the jar of the local file system, Spark keeps its default class, and the log
    names the missing file and the fix."""
    missing = tmp_path / "local-fs.jar"
    monkeypatch.setattr(spark_resources, "LOCAL_FS_JAR", missing)
    config = spark_resources.spark_config(load_settings())
    assert "spark.hadoop.fs.file.impl" not in config
    assert str(missing) not in config["spark.jars"]
    assert f"{missing} is missing" in caplog.text
    assert "make setup" in caplog.text


def test_spark_config_with_local_fs_jar(monkeypatch, tmp_path):
    jar = tmp_path / "local-fs.jar"
    jar.write_bytes(b"")
    monkeypatch.setattr(spark_resources, "LOCAL_FS_JAR", jar)
    config = spark_resources.spark_config(load_settings())
    assert config["spark.hadoop.fs.file.impl"] == spark_resources.LOCAL_FS_CLASS
    assert config["spark.jars"].split(",")[-1] == str(jar)
    assert config["spark.driver.extraClassPath"].split(":")[-1] == str(jar)


def test_spark_driver_java_options_default(monkeypatch):
    monkeypatch.delenv("DM_SPARK_DRIVER_JAVA_OPTIONS", raising=False)
    settings = load_settings()
    options = spark_resources.spark_config(settings)["spark.driver.extraJavaOptions"].split()
    assert options[0] == f"-Dderby.system.home={settings.data_dir}"
    assert "-XX:TieredStopAtLevel=1" in options
    assert "-XX:ReservedCodeCacheSize=240m" in options


def test_spark_driver_java_options_from_environment(monkeypatch):
    monkeypatch.setenv("DM_SPARK_DRIVER_JAVA_OPTIONS", "-XX:TieredStopAtLevel=4")
    settings = load_settings()
    options = spark_resources.spark_config(settings)["spark.driver.extraJavaOptions"].split()
    assert options == [f"-Dderby.system.home={settings.data_dir}", "-XX:TieredStopAtLevel=4"]
