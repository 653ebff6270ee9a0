"""Benchmark of the mart write path: how long ``overwrite_partitions`` takes to replace one date
x N sites in a Hive ORC mart, and how that grows with the partitions the table already holds.

One run of this script, in one Spark session with the product's configuration
(``spark_config``) and a new data folder:

1. creates a mart table ``bench.mart`` (the columns of ``netops.ansible_deployment_metrics``);
2. writes ``--history`` days x ``--sites`` sites into it in one call, as a backfill does;
3. ``--repeat`` times: writes a new date (as a daily run does), then re-writes an existing date
   with ``--missing`` sites left out, whose partitions must be dropped;
4. checks the metastore's partitions and the rows read back through the table.

Each write is timed, with the Hive client calls Spark made for it (``HiveCatalogMetrics``).
``PYTHONPATH`` chooses the code measured: ``PYTHONPATH=/path/to/checkout`` measures the
``overwrite_partitions`` of that checkout.

Usage: ``.venv/bin/python scripts/bench_mart_write.py --history 30 --sites 100``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TABLE = "bench.mart"


def _frame(spark, dates: list[date], sites: list[str], rows_per_partition: int):
    """Mart rows for every (date, site): ``rows_per_partition`` playbooks each."""
    from pyspark.sql import functions as F

    keys = [(d, s, p) for d in dates for s in sites for p in range(rows_per_partition)]
    base = spark.createDataFrame(keys, "date DATE, site_id STRING, n INT")
    return base.select(
        F.concat(F.lit("playbook-"), F.col("n").cast("string")).alias("playbook"),
        (F.col("n") + 2).cast("long").alias("total_executions"),
        (F.col("n") + 1).cast("long").alias("successful"),
        F.lit(1).cast("long").alias("failed"),
        F.lit(0).cast("long").alias("incomplete"),
        F.lit(50.0).alias("success_rate"),
        F.lit(8).cast("long").alias("host_executions"),
        F.lit(6).cast("long").alias("host_successes"),
        F.lit(75.0).alias("host_success_rate"),
        F.lit(12.5).alias("avg_duration"),
        F.lit("critical").alias("deployment_status"),
        F.current_timestamp().alias("processed_at"),
        "date",
        "site_id",
    )


def _hive_calls(spark) -> int:
    metrics = spark._jvm.org.apache.spark.metrics.source.HiveCatalogMetrics
    return int(metrics.METRIC_HIVE_CLIENT_CALLS().getCount())


def _timed_write(spark, table, dates, sites, rows_per_partition, written_sites=None) -> dict:
    from deploy_manager.resources.warehouse import overwrite_partitions

    frame = _frame(spark, dates, written_sites or sites, rows_per_partition)
    calls = _hive_calls(spark)
    started = time.perf_counter()
    result = overwrite_partitions(spark, frame, table, dates, sites)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "hive_calls": _hive_calls(spark) - calls,
        "partitions_written": result["partitions_written"],
        "partitions_dropped": result["partitions_dropped"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--history", type=int, default=30, help="days in the table before")
    parser.add_argument("--rows", type=int, default=3, help="rows per partition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--missing", type=int, default=5, help="sites left out of a re-write")
    parser.add_argument("--workdir", type=Path, default=REPO / "data" / "bench-mart-write")
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    os.environ["DM_DATA_DIR"] = str(workdir)
    os.environ.pop("DM_WAREHOUSE_DIR", None)
    os.environ.pop("DM_METASTORE_URL", None)

    from pyspark.sql import SparkSession

    import deploy_manager.resources.warehouse as warehouse
    from deploy_manager.netops.marts import DEPLOYMENT_METRICS_COLUMNS
    from deploy_manager.resources.spark import spark_config
    from deploy_manager.settings import load_settings

    builder = SparkSession.builder
    for key, value in spark_config(load_settings()).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    sites = [f"SITE{i:03d}" for i in range(1, args.sites + 1)]
    first = date(2026, 10, 1)
    history = [first + timedelta(days=i) for i in range(args.history)]
    figures: dict = {
        "code": str(Path(warehouse.__file__).resolve().parents[2]),
        "sites": args.sites,
        "history_days": args.history,
        "rows_per_partition": args.rows,
    }
    started = time.perf_counter()
    # ensure_table describes the table for overwrite_partitions in this code; earlier code
    # returned nothing and took the table's name.
    table = warehouse.ensure_table(spark, TABLE, DEPLOYMENT_METRICS_COLUMNS) or TABLE
    figures["create_table_s"] = round(time.perf_counter() - started, 3)
    if history:
        figures["history_write"] = _timed_write(spark, table, history, sites, args.rows)
    new_dates, rewrites = [], []
    for i in range(args.repeat):
        day = first + timedelta(days=args.history + i)
        new_dates.append(_timed_write(spark, table, [day], sites, args.rows))
        existing = first + timedelta(days=i % max(args.history, 1))
        rewritten_sites = sites[args.missing :]
        rewrites.append(
            _timed_write(spark, table, [existing], sites, args.rows, written_sites=rewritten_sites)
        )
    figures["new_date_writes"] = new_dates
    figures["rewrite_writes"] = rewrites
    figures["new_date_median_s"] = statistics.median(w["seconds"] for w in new_dates)
    figures["rewrite_median_s"] = statistics.median(w["seconds"] for w in rewrites)

    # The table must hold every partition written and none of those dropped, and the rows of
    # each partition once.
    partitions = spark.sql(f"SHOW PARTITIONS {TABLE}").count()
    rewritten_dates = min(args.repeat, max(args.history, 1))
    expected = (args.history + args.repeat) * args.sites - args.missing * rewritten_dates
    rows = spark.table(TABLE).count()
    figures["partitions"] = partitions
    figures["rows"] = rows
    figures["ok"] = partitions == expected and rows == expected * args.rows
    print(json.dumps(figures, indent=1))
    spark.stop()
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
