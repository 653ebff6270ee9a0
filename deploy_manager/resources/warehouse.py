"""Spark I/O of the platform: partitioned JDBC reads of the raw layer and partition-exact
writes of the Hive ORC marts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame, SparkSession

from deploy_manager.partitions import validate_site_id

log = logging.getLogger(__name__)

# Rows fetched per round trip of a JDBC read (the PostgreSQL driver's default is all rows).
JDBC_FETCH_SIZE = 20_000


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


def ensure_table(
    spark: SparkSession, qualified_table: str, columns: Sequence[tuple[str, str]]
) -> None:
    """Create ``qualified_table`` as an ORC table partitioned by (date, site_id), or add the
    columns it lacks (before the partition columns) when the mart has gained some."""
    database = qualified_table.split(".", 1)[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    if not spark.catalog.tableExists(qualified_table):
        ddl = ", ".join(f"`{name}` {kind}" for name, kind in columns)
        spark.sql(
            f"CREATE TABLE {qualified_table} ({ddl}, `date` DATE, site_id STRING) "
            "USING ORC PARTITIONED BY (`date`, site_id)"
        )
        log.info("created table %s", qualified_table)
        return
    existing = set(spark.table(qualified_table).columns)
    missing = [(name, kind) for name, kind in columns if name not in existing]
    if missing:
        ddl = ", ".join(f"`{name}` {kind}" for name, kind in missing)
        spark.sql(f"ALTER TABLE {qualified_table} ADD COLUMNS ({ddl})")
        log.info("added columns %s to %s", [m[0] for m in missing], qualified_table)


def _partitions(spark: SparkSession, qualified_table: str) -> set[tuple[date, str]]:
    """Return the (date, site) partitions that the metastore lists for ``qualified_table``."""
    rows = spark.sql(f"SHOW PARTITIONS {qualified_table}").collect()
    listed = set()
    for row in rows:
        values = dict(part.split("=", 1) for part in row[0].split("/"))
        listed.add((date.fromisoformat(values["date"]), values["site_id"]))
    return listed


def overwrite_partitions(
    spark: SparkSession,
    frame: DataFrame,
    qualified_table: str,
    dates: Sequence[date],
    sites: Sequence[str],
) -> dict[str, int]:
    """Replace exactly the (date, site) partitions of the rectangle with ``frame``.

    ``insertInto`` with dynamic partition overwrite replaces the partitions that ``frame``
    has rows for and leaves every other partition alone; ``insertInto`` matches columns by
    position, so ``frame`` is first put in the table's column order. Partitions of the
    rectangle that ``frame`` has no rows for are dropped, because their raw rows are gone.
    Returns the rows written and partitions written and dropped.
    """
    table_columns = spark.table(qualified_table).columns
    ordered = frame.select(*table_columns).repartition("date", "site_id").cache()
    try:
        written = {
            (row["date"], row["site_id"]): row["count"]
            for row in ordered.groupBy("date", "site_id").count().collect()
        }
        ordered.write.insertInto(qualified_table, overwrite=True)
    finally:
        ordered.unpersist()
    unwritten = [(d, s) for d in dates for s in sites if (d, s) not in written]
    # Listing the table's partitions costs a metastore call over its whole history, so it is
    # made only when some partition of the rectangle got no rows.
    existing = _partitions(spark, qualified_table) if unwritten else set()
    # Only partitions that exist are dropped: each drop is a metastore round trip.
    empty = [key for key in unwritten if key in existing]
    for day, site in empty:
        spark.sql(
            f"ALTER TABLE {qualified_table} DROP IF EXISTS PARTITION "
            f"(`date` = DATE '{day.isoformat()}', site_id = '{validate_site_id(site)}')"
        )
    rows = sum(written.values())
    log.info(
        "wrote %d rows to %s (%d partitions, %d empty partitions dropped)",
        rows,
        qualified_table,
        len(written),
        len(empty),
    )
    return {
        "rows": rows,
        "partitions_written": len(written),
        "partitions_dropped": len(empty),
        "spark_application_id": spark.sparkContext.applicationId,
    }
