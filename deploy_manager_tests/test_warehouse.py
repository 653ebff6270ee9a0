"""The partition-exact write of a Hive ORC mart, on a table of this module's own in the shared
Spark session."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.orc as orc
import pytest
from pyspark.sql import functions as F

from deploy_manager.resources.spark import LOCAL_FS_CLASS, LOCAL_FS_JAR
from deploy_manager.resources.warehouse import ensure_table, overwrite_partitions

pytestmark = pytest.mark.spark

TABLE = "warehouse_test.mart"
COLUMNS = [("playbook", "STRING"), ("runs", "BIGINT")]
DAY_1, DAY_2 = date(2026, 9, 1), date(2026, 9, 2)
SITES = ["SITE001", "SITE002", "SITE003"]
# The class Spark uses for file: URIs without LOCAL_FS_CLASS, because its Hive jars register it.
HIVE_LOCAL_FS_CLASS = "org.apache.hadoop.hive.ql.io.ProxyLocalFileSystem"


@pytest.fixture
def spark(platform_world):
    session = platform_world.spark
    session.sql(f"DROP TABLE IF EXISTS {TABLE}")
    yield session
    session.sql(f"DROP TABLE IF EXISTS {TABLE}")


def _frame(spark, rows: list[tuple[date, str, str, int]]):
    # runs arrives as an INT, narrower than the table's BIGINT.
    frame = spark.createDataFrame(rows, "date DATE, site_id STRING, playbook STRING, runs INT")
    return frame.select("site_id", "runs", "playbook", "date")


def _write(spark, rows, dates, sites):
    table = ensure_table(spark, TABLE, COLUMNS)
    return overwrite_partitions(spark, _frame(spark, rows), table, dates, sites)


def _rows(spark) -> set[tuple]:
    return {tuple(row) for row in spark.table(TABLE).collect()}


def _partitions(spark) -> set[str]:
    return {row[0] for row in spark.sql(f"SHOW PARTITIONS {TABLE}").collect()}


def _partition_folder(spark, day: date, site: str) -> Path:
    location = ensure_table(spark, TABLE, COLUMNS).location
    return Path(urlparse(location).path) / f"date={day.isoformat()}" / f"site_id={site}"


def test_overwrite_replaces_and_drops_rectangle(spark):
    first = [(day, site, "deploy.yml", 1) for day in (DAY_1, DAY_2) for site in SITES]
    written = _write(spark, first, [DAY_1, DAY_2], SITES)
    assert (written["rows"], written["partitions_written"]) == (6, 6)
    assert written["partitions_dropped"] == 0

    # DAY_1 x SITE001..SITE002 again: SITE001 gets new rows, SITE002 has none any more.
    again = [(DAY_1, "SITE001", "upgrade.yml", 7), (DAY_1, "SITE001", "deploy.yml", 2)]
    written = _write(spark, again, [DAY_1], SITES[:2])
    assert (written["rows"], written["partitions_written"]) == (2, 1)
    assert written["partitions_dropped"] == 1

    expected = {
        ("upgrade.yml", 7, DAY_1, "SITE001"),
        ("deploy.yml", 2, DAY_1, "SITE001"),
        ("deploy.yml", 1, DAY_1, "SITE003"),
    } | {("deploy.yml", 1, DAY_2, site) for site in SITES}
    assert _rows(spark) == expected
    assert _partitions(spark) == {
        f"date={day}/site_id={site}" for day, site in {(row[2], row[3]) for row in expected}
    }
    assert not _partition_folder(spark, DAY_1, "SITE002").exists()


def test_partition_file_has_table_types(spark):
    _write(spark, [(DAY_1, "SITE001", "deploy.yml", 3)], [DAY_1], ["SITE001"])
    folder = _partition_folder(spark, DAY_1, "SITE001")
    files = [path for path in folder.iterdir() if not path.name.startswith((".", "_"))]
    assert len(files) == 1
    table = orc.read_table(str(files[0]))
    assert table.column_names == ["playbook", "runs"]
    assert str(table.schema.field("runs").type) == "int64"
    assert table.to_pylist() == [{"playbook": "deploy.yml", "runs": 3}]


def _local_file_system(spark):
    jvm = spark._jvm
    return jvm.org.apache.hadoop.fs.FileSystem.get(
        jvm.java.net.URI("file:///"), spark._jsc.hadoopConfiguration()
    )


def test_local_file_system_sets_permissions(spark, tmp_path):
    """Spark writes through the file system class built by `make setup` when its jar exists,
    with the permissions that the default class sets."""
    jvm = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    fs = _local_file_system(spark)
    expected_class = LOCAL_FS_CLASS if LOCAL_FS_JAR.is_file() else HIVE_LOCAL_FS_CLASS
    assert fs.getClass().getName() == expected_class
    _write(spark, [(DAY_1, "SITE001", "deploy.yml", 3)], [DAY_1], ["SITE001"])
    folder = _partition_folder(spark, DAY_1, "SITE001")
    orc_file = next(path for path in folder.iterdir() if not path.name.startswith((".", "_")))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE(orc_file.stat().st_mode) == 0o644
    for mode in (0o640, 0o1777, 0o000):
        target = tmp_path / f"mode_{mode:o}"
        path = hadoop_path(str(target))
        fs.create(path).close()
        fs.setPermission(path, jvm.org.apache.hadoop.fs.permission.FsPermission(mode))
        assert stat.S_IMODE(target.stat().st_mode) == mode


def test_local_file_system_rename_keeps_file(spark, tmp_path):
    """A rename onto an existing file returns false and keeps both files, as the default
    class of Spark's Hive jars does."""
    hadoop_path = spark._jvm.org.apache.hadoop.fs.Path
    fs = _local_file_system(spark)
    source, destination = tmp_path / "source", tmp_path / "destination"
    source.write_text("new")
    destination.write_text("old")
    renamed = fs.rename(hadoop_path(str(source)), hadoop_path(str(destination)))
    assert renamed is False
    assert destination.read_text() == "old"
    assert source.read_text() == "new"
    moved = tmp_path / "moved"
    assert fs.rename(hadoop_path(str(source)), hadoop_path(str(moved)))
    assert moved.read_text() == "new"


def test_new_date_write_lists_no_partitions(spark):
    history = [(DAY_1, site, "deploy.yml", 1) for site in SITES]
    _write(spark, history, [DAY_1], SITES)
    metrics = spark._jvm.org.apache.spark.metrics.source.HiveCatalogMetrics
    fetched = metrics.METRIC_PARTITIONS_FETCHED().getCount()
    _write(spark, [(DAY_2, site, "deploy.yml", 1) for site in SITES], [DAY_2], SITES)
    assert metrics.METRIC_PARTITIONS_FETCHED().getCount() == fetched
    assert spark.table(TABLE).where(F.col("date") == DAY_2).count() == 3


def test_ensure_table_adds_missing_columns(spark):
    ensure_table(spark, TABLE, COLUMNS)
    table = ensure_table(spark, TABLE, [*COLUMNS, ("hosts", "BIGINT")])
    assert [name for name, _ in table.columns] == [
        "playbook",
        "runs",
        "hosts",
        "date",
        "site_id",
    ]
    assert dict(table.columns)["hosts"] == "bigint"
