"""Spark I/O of the platform: partitioned JDBC reads of the raw layer and partition-exact
writes of the Hive ORC marts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from deploy_manager.partitions import validate_site_id

log = logging.getLogger(__name__)

# Rows fetched per round trip of a JDBC read (the PostgreSQL driver's default is all rows).
JDBC_FETCH_SIZE = 20_000
# Partitions registered per ALTER TABLE ADD PARTITION statement of a write.
ADD_PARTITIONS_PER_STATEMENT = 500


def read_raw_rectangle(
    spark: SparkSession,
    jdbc_url: str,
    table: str,
    columns: Sequence[str],
    dates: Sequence[date],
    sites: Sequence[str],
    date_column: str = "run_date",
) -> DataFrame:
    """Read the rows of ``raw.<table>`` in the rectangle dates x sites over JDBC.

    The read is split into JDBC queries (Spark ``predicates``) of one date and a group of
    sites each, at least as many as Spark runs tasks at once, so a daily run also fetches in
    parallel and each query uses the (date, site_id) index. Dates are ``date`` objects and
    site ids pass validate_site_id, so the predicate text contains no free input.
    """
    checked = [validate_site_id(s) for s in sites]
    parallelism = spark.sparkContext.defaultParallelism
    groups_per_date = max(1, min(len(checked), -(-parallelism // max(len(dates), 1))))
    groups = [checked[i::groups_per_date] for i in range(groups_per_date)]
    site_lists = [", ".join(f"'{site}'" for site in group) for group in groups if group]
    predicates = [
        f"{date_column} = DATE '{d.isoformat()}' AND site_id IN ({site_list})"
        for d in dates
        for site_list in site_lists
    ]
    frame = spark.read.jdbc(
        url=jdbc_url,
        table=f"raw.{table}",
        predicates=predicates,
        properties={"driver": "org.postgresql.Driver", "fetchsize": str(JDBC_FETCH_SIZE)},
    )
    return frame.select(*columns)


@dataclass(frozen=True)
class MartTable:
    """Metastore description of a mart table that a write uses: the columns in order as (name,
    Spark SQL type) pairs, partition columns last, and the folder of its partitions."""

    name: str
    columns: tuple[tuple[str, str], ...]
    location: str


def describe_table(spark: SparkSession, qualified_table: str) -> MartTable:
    """Read the columns and the location of ``qualified_table`` from the metastore, in one
    ``DESCRIBE TABLE EXTENDED``: its rows list the columns (partition columns last), then a
    blank or ``#`` row, then the table's details, ``Location`` among them."""
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {qualified_table}").collect()
    columns = []
    for row in rows:
        if not row["col_name"] or row["col_name"].startswith("#"):
            break
        columns.append((row["col_name"], row["data_type"]))
    location = next(row["data_type"] for row in rows if row["col_name"] == "Location")
    return MartTable(qualified_table, tuple(columns), location)


def ensure_table(
    spark: SparkSession, qualified_table: str, columns: Sequence[tuple[str, str]]
) -> MartTable:
    """Create ``qualified_table`` as an ORC table partitioned by (date, site_id), or add the
    columns it lacks (before the partition columns) when the mart has gained some. Returns the
    table as the metastore describes it."""
    database = qualified_table.split(".", 1)[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    if not spark.catalog.tableExists(qualified_table):
        ddl = ", ".join(f"`{name}` {kind}" for name, kind in columns)
        spark.sql(
            f"CREATE TABLE {qualified_table} ({ddl}, `date` DATE, site_id STRING) "
            "USING ORC PARTITIONED BY (`date`, site_id)"
        )
        log.info("created table %s", qualified_table)
        return describe_table(spark, qualified_table)
    table = describe_table(spark, qualified_table)
    existing = {name for name, _ in table.columns}
    missing = [(name, kind) for name, kind in columns if name not in existing]
    if not missing:
        return table
    ddl = ", ".join(f"`{name}` {kind}" for name, kind in missing)
    spark.sql(f"ALTER TABLE {qualified_table} ADD COLUMNS ({ddl})")
    log.info("added columns %s to %s", [m[0] for m in missing], qualified_table)
    return describe_table(spark, qualified_table)


def _partitions(spark: SparkSession, qualified_table: str, day: date) -> set[tuple[date, str]]:
    """Return the (date, site) partitions of ``day`` that the metastore lists for
    ``qualified_table``."""
    rows = spark.sql(
        f"SHOW PARTITIONS {qualified_table} PARTITION (`date` = DATE '{day.isoformat()}')"
    ).collect()
    listed = set()
    for row in rows:
        values = dict(part.split("=", 1) for part in row[0].split("/"))
        listed.add((date.fromisoformat(values["date"]), values["site_id"]))
    return listed


def _partition_spec(day: date, site: str) -> str:
    return f"PARTITION (`date` = DATE '{day.isoformat()}', site_id = '{validate_site_id(site)}')"


def overwrite_partitions(
    spark: SparkSession,
    frame: DataFrame,
    table: MartTable,
    dates: Sequence[date],
    sites: Sequence[str],
) -> dict[str, int]:
    """Replace exactly the (date, site) partitions of the rectangle with ``frame``.

    The rows are written to the table's folder with dynamic partition overwrite, which
    replaces the partition folders that ``frame`` has rows for and leaves every other folder
    alone. Columns are matched by name and cast to the table's types. The partitions written
    are then registered in the metastore when they are not yet, up to
    ADD_PARTITIONS_PER_STATEMENT per statement. Partitions of the rectangle that ``frame`` has
    no rows for are dropped, files included, because their raw rows are gone. The write never
    lists the table's partitions outside the rectangle's dates (``insertInto`` lists all of
    them), so its cost does not grow with the table's history. One Spark job computes
    ``frame`` and writes it; the rows and partitions written are observed during that job.
    Returns the rows written and partitions written and dropped.
    """
    observation = Observation()
    ordered = (
        frame.select(*(F.col(name).cast(kind).alias(name) for name, kind in table.columns))
        # One file per partition, written by as many tasks as Spark runs at once. With no
        # number given, adaptive execution would merge a small mart into a single task.
        .repartition(spark.sparkContext.defaultParallelism, "date", "site_id")
        .observe(
            observation,
            F.count(F.lit(1)).alias("rows"),
            F.collect_set(F.struct("date", "site_id")).alias("partitions"),
        )
    )
    (
        ordered.write.format("orc")
        .mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("date", "site_id")
        .save(table.location)
    )
    metrics = observation.get
    written = {(row["date"], row["site_id"]) for row in metrics["partitions"]}
    new = sorted(written)
    for start in range(0, len(new), ADD_PARTITIONS_PER_STATEMENT):
        batch = new[start : start + ADD_PARTITIONS_PER_STATEMENT]
        specs = " ".join(_partition_spec(day, site) for day, site in batch)
        spark.sql(f"ALTER TABLE {table.name} ADD IF NOT EXISTS {specs}")
    unwritten = [(d, s) for d in dates for s in sites if (d, s) not in written]
    # Only partitions that exist are dropped. They are listed per date, and only for the
    # dates with a partition that got no rows, so the listing does not grow with the history.
    existing = set()
    for day in sorted({day for day, _ in unwritten}):
        existing |= _partitions(spark, table.name, day)
    empty = [key for key in unwritten if key in existing]
    if empty:
        specs = ", ".join(_partition_spec(day, site) for day, site in empty)
        spark.sql(f"ALTER TABLE {table.name} DROP IF EXISTS {specs}")
    # Spark caches the file lists of partitions it has read, and the rewritten ones are stale.
    spark.catalog.refreshTable(table.name)
    rows = metrics["rows"]
    log.info(
        "wrote %d rows to %s (%d partitions, %d empty partitions dropped)",
        rows,
        table.name,
        len(written),
        len(empty),
    )
    return {
        "rows": rows,
        "partitions_written": len(written),
        "partitions_dropped": len(empty),
        "spark_application_id": spark.sparkContext.applicationId,
    }
