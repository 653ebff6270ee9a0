"""Shared parts of the partitioned Dagster assets, which are the assets that count the raw rows
of each (date, site) partition in PostgreSQL and the partition-exact write of a mart."""

import time
from collections.abc import Mapping, Sequence
from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    multi_asset,
)
from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from deploy_manager.ingest.assets import INVENTORY_KEY
from deploy_manager.partitions import date_site_partitions, split_partition_keys
from deploy_manager.resources.database import RawDatabase
from deploy_manager.resources.warehouse import ensure_table, overwrite_partitions


def raw_table_key(table: str) -> list[str]:
    return ["raw", table]


def build_raw_count_assets(
    name: str,
    tables: Mapping[str, str],
    description: str,
    *,
    date_column: str = "event_date",
) -> AssetsDefinition:
    """Build the multi-asset ``name`` with one asset ``raw/<table>`` per entry of ``tables``
    (table name to asset description).

    A run counts the rows of each table in the requested (date, site) partitions, with
    ``date_column`` as the partition date, and records the run's ``rows`` and ``partitions``
    on each materialization. Dagster copies a range run's metadata onto the materialization
    of every partition, so a per-partition map there would grow with the square of the
    partitions. The reconcile checks record each partition's raw count instead.
    """

    @multi_asset(
        name=name,
        description=description,
        specs=[
            AssetSpec(
                raw_table_key(table), group_name="raw", description=text, deps=[INVENTORY_KEY]
            )
            for table, text in tables.items()
        ],
        partitions_def=date_site_partitions,
        backfill_policy=BackfillPolicy.single_run(),
    )
    def _count_raw_rows(context: AssetExecutionContext, raw_db: RawDatabase):
        dates, sites = split_partition_keys(context.partition_keys)
        with raw_db.connect() as conn:
            for table in tables:
                query = sql.SQL(
                    "SELECT count(*) FROM raw.{table} WHERE {date} = ANY(%s) AND site_id = ANY(%s)"
                ).format(date=sql.Identifier(date_column), table=sql.Identifier(table))
                rows = conn.execute(query, (dates, sites)).fetchone()[0]
                partitions = len(dates) * len(sites)
                context.log.info(
                    "raw.%s contains %d rows in %d partitions", table, rows, partitions
                )
                yield MaterializeResult(
                    asset_key=raw_table_key(table),
                    metadata={"rows": rows, "partitions": partitions},
                )

    return _count_raw_rows


def write_mart_partitions(
    spark: SparkSession,
    frame: DataFrame,
    table: str,
    columns: Sequence[tuple[str, str]],
    dates: Sequence[date],
    sites: Sequence[str],
    started: float,
) -> MaterializeResult:
    """Replace the (date, site) partitions of the rectangle in the mart ``table`` with ``frame``.

    The table is created, or given the columns it lacks, first. The metadata contains the
    counts of ``overwrite_partitions`` and the seconds since ``started``, a
    ``time.monotonic()`` value.
    """
    mart = ensure_table(spark, table, columns)
    written = overwrite_partitions(spark, frame, mart, dates, sites)
    return MaterializeResult(metadata={**written, "seconds": round(time.monotonic() - started, 2)})
