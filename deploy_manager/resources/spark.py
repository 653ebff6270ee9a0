"""The Spark session of every Spark asset, built by dagster-pyspark from one configuration.

Static settings (jars, catalog, driver memory) apply only to the first session of a process,
which is why every asset runs in one process per run (the in-process executor): one JVM, one
session, and a Derby metastore that admits a single JVM at a time.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from dagster_pyspark import PySparkResource

from deploy_manager.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Hadoop's local file system without a chmod process per file
# (jvm/LocalFileSystemWithoutShell.java), built by scripts/build_local_fs.sh in `make setup`.
LOCAL_FS_JAR = Path(sys.prefix) / "share" / "deploy-manager" / "local-fs.jar"
LOCAL_FS_CLASS = "deploymanager.hadoop.LocalFileSystemWithoutShell"


def spark_config(settings: Settings) -> dict[str, str]:
    """Return the Spark configuration for Hive-backed ORC marts and JDBC reads of the raw layer."""
    has_local_fs = LOCAL_FS_JAR.is_file()
    jars = [settings.jdbc_jar]
    if has_local_fs:
        jars.append(str(LOCAL_FS_JAR))
    else:
        log.warning(
            "%s is missing, so every file Spark writes starts a chmod process: run `make setup`"
            " with a JDK installed to build it",
            LOCAL_FS_JAR,
        )
    config = {
        "spark.master": settings.spark_master,
        "spark.app.name": "deploy_manager",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.jars": ",".join(jars),
        # The Hive metastore client loads its JDBC driver from the system class path, which
        # spark.jars does not reach.
        "spark.driver.extraClassPath": ":".join(jars),
        # enableHiveSupport() only sets this key; the metastore keys need the spark.hadoop.
        # prefix or Spark ignores them.
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": settings.warehouse_dir,
        "spark.hadoop.javax.jdo.option.ConnectionURL": settings.metastore_url,
        # Re-materializing a (date, site) partition replaces that partition alone.
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.hadoop.hive.exec.dynamic.partition.mode": "nonstrict",
        # Otherwise the metastore lists the files of every partition a write adds, one call
        # per partition, to store size statistics nothing here reads.
        "spark.hadoop.hive.stats.autogather": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        # A read of more partition folders than this lists them in a Spark job, one task per
        # folder, which suits remote stores. The warehouse is a local folder: in a daily run at
        # 100 sites, four such jobs took 2.0 s and the driver's own listing takes about 1 s.
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # In local mode the driver JVM also runs the tasks, so these options apply to both.
        "spark.driver.extraJavaOptions": (
            f"-Dderby.system.home={settings.data_dir} {settings.spark_driver_java_options}"
        ).strip(),
    }
    if has_local_fs:
        # Sets file and folder permissions without a chmod process per call.
        config["spark.hadoop.fs.file.impl"] = LOCAL_FS_CLASS
    if settings.spark_event_log_dir:
        Path(settings.spark_event_log_dir).mkdir(parents=True, exist_ok=True)
        config.update(
            {
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": Path(settings.spark_event_log_dir).resolve().as_uri(),
                # One plain JSON-lines file per session, which scripts/spark_event_summary.py
                # reads. Spark 4 otherwise writes a folder of zstd-compressed rolling files.
                "spark.eventLog.rolling.enabled": "false",
                "spark.eventLog.compress": "false",
            }
        )
    if not settings.uses_embedded_metastore:
        config.update(
            {
                "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
                # DataNucleus creates the metastore tables on first use. Its foreign keys
                # are left out: creating one locks a table that the session's own open
                # transaction already writes, and the two wait on each other forever.
                "spark.hadoop.datanucleus.schema.autoCreateTables": "true",
                "spark.hadoop.datanucleus.schema.autoCreateColumns": "true",
                "spark.hadoop.datanucleus.schema.autoCreateConstraints": "false",
                "spark.hadoop.hive.metastore.schema.verification": "false",
            }
        )
    return config


def pyspark_resource(settings: Settings | None = None) -> PySparkResource:
    return PySparkResource(spark_config=spark_config(settings or load_settings()))
