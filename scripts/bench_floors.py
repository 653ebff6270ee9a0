"""Lower bounds of the pipeline's CPU time per raw event, measured part by part on one input.

The pipeline's throughput targets set a CPU budget per raw event on this machine:
- ingest at 50,000 raw events per second per core: 20 µs of CPU per event;
- end to end at 150,000 raw events per second on N cores: N / 150,000 s of CPU per event,
  13.3 µs on 2 cores, for the ingest, the marts, the KPIs and the checks together.

This script measures what no implementation of the pipeline's design can avoid, each part
with everything else left out, and prints it per raw event beside those budgets:

1. Python reading: each landing file decoded and split into lines, one regular expression
   per log line, ``json.loads`` per JSON record, the CSV reader per CSV row, a split per
   scrape line. A parser in Python with the standard library does at least this much.
2. PostgreSQL loading: the rows the product's ingest wrote, exported with binary COPY and
   loaded again with binary COPY, into copies of the raw tables with their keys and indexes
   and into copies without any index. Counted: CPU time of the PostgreSQL backend.
3. Spark reading: the raw tables read over JDBC with the columns the mart steps read. The
   first variant reads them as the mart steps do (``read_raw_rectangle``) into Spark's
   ``noop`` sink, the second with one query per table, and the third writes the first's
   rows as ORC partitioned by (date, site), with no computation. Counted: CPU time of the
   whole machine from /proc/stat, which includes the PostgreSQL backends serving the reads,
   so nothing else should run. The JVM runs with both JIT tiers and is warmed by one untimed
   round. Each variant runs ``--rounds`` times over all sites and over half of them, and the
   difference of the medians gives the CPU per raw event without the fixed cost of a round.

The product's own ingest of the same input is timed as well, so the floors compare with it.

Usage: ``.venv/bin/python scripts/bench_floors.py`` (20 sites x 2 days at 3,300 AMF
registrations per site and day: the density of the 10-million-event backfill).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench_ingest import SERVER_URL, _backend_cpu_s, generate, ingest_once

REPO = Path(__file__).resolve().parent.parent
_LOG_LINE_HEAD = re.compile(r"\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{3}: ")
INGEST_BUDGET_US = 1e6 / 50_000


def machine_busy_s() -> float:
    """Return the CPU seconds all cores of this machine ran code since boot: user, nice,
    system, irq and softirq time. Steal time is left out, and guest time is part of user."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def python_reading_floor(landing: Path) -> float:
    """Read every landing file as the least Python parser would; return the CPU seconds."""
    started = time.process_time()
    for path in sorted(landing.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8")
        suffix = path.suffix
        if suffix == ".log":
            head = _LOG_LINE_HEAD.match
            for line in text.splitlines():
                head(line)
        elif suffix == ".jsonl":
            for line in text.splitlines():
                json.loads(line)
        elif suffix == ".csv":
            for _row in csv.reader(io.StringIO(text)):
                pass
        elif suffix == ".prom":
            for line in text.splitlines():
                if not line.startswith("#"):
                    line.rsplit(" ", 1)
        elif suffix == ".json":
            json.loads(text)
    return time.process_time() - started


def _raw_tables(conn) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'raw' AND c.relkind = 'r' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def postgres_loading_floor(database_url: str) -> dict:
    """Load the raw rows again by binary COPY into copies of the raw tables, with and without
    their keys and indexes, and return the backend CPU seconds of each load.

    The raw tables stay as the ingest wrote them.
    """
    from deploy_manager.db.connection import connect

    with connect(database_url) as conn:
        exported: dict[str, bytes] = {}
        for table in _raw_tables(conn):
            buffer = io.BytesIO()
            with conn.cursor().copy(f"COPY raw.{table} TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            exported[table] = buffer.getvalue()
        conn.execute("CREATE SCHEMA floor_bare")
        for table in exported:
            conn.execute(f"CREATE TABLE floor_bare.{table} (LIKE raw.{table})")
        conn.execute("CREATE SCHEMA floor_indexed")
        for table in exported:
            conn.execute(f"CREATE TABLE floor_indexed.{table} (LIKE raw.{table} INCLUDING ALL)")
        conn.commit()
        figures = {"rows": 0}
        backend = conn.info.backend_pid
        for schema in ("floor_bare", "floor_indexed"):
            before = _backend_cpu_s(backend)
            for table, data in exported.items():
                with conn.cursor().copy(f"COPY {schema}.{table} FROM STDIN (FORMAT binary)") as c:
                    c.write(data)
            conn.commit()
            figures[schema] = _backend_cpu_s(backend) - before
        for table in exported:
            figures["rows"] += conn.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0]
        conn.execute("DROP SCHEMA floor_bare CASCADE")
        conn.execute("DROP SCHEMA floor_indexed CASCADE")
        conn.commit()
    return figures


def _mart_columns() -> dict[str, list[str]]:
    """Return the columns the mart steps read from each 5G core raw table. The other raw
    tables are read with all their columns, as they hold a small share of the rows."""
    from deploy_manager.core5g import assets

    return {
        "amf_registration_attempts": assets.REGISTRATION_COLUMNS,
        "pdu_session_attempts": assets.SESSION_COLUMNS,
        "nf_counter_increases": assets.INCREASE_COLUMNS,
        "chf_cdrs": assets.CDR_COLUMNS,
        "nf_scrapes": assets.SCRAPE_COLUMNS,
        "nf_metric_samples": assets.SAMPLE_COLUMNS,
    }


def spark_reading_floor(database_url: str, events: int, rounds: int, workdir: Path) -> dict:
    """Read the raw tables over JDBC with the columns the mart steps read, in three variants:
    as the mart steps read them, with one query per table, and as the mart steps read them
    with the rows written as ORC by (date, site).

    Each variant runs over all sites and over the first half of them, and the CPU per raw
    event is the difference of the two medians over the difference of the events. That
    leaves out the fixed cost of each round, such as planning and starting the queries.
    """
    import psycopg
    from pyspark.sql import SparkSession

    from deploy_manager.resources.spark import spark_config
    from deploy_manager.resources.warehouse import JDBC_FETCH_SIZE, read_raw_rectangle
    from deploy_manager.settings import load_settings, postgres_url_to_jdbc

    mart_columns = _mart_columns()
    reads = []
    with psycopg.connect(database_url) as conn:
        for table in _raw_tables(conn):
            columns = mart_columns.get(table) or [
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'raw' AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
            ]
            date_column = next((c for c in ("run_date", "event_date") if c in columns), None)
            if date_column is None or "site_id" not in columns:
                continue
            days = [d for (d,) in conn.execute(f"SELECT DISTINCT {date_column} FROM raw.{table}")]
            if days:
                reads.append((table, columns, date_column, days))
        sites = sorted(
            {
                s
                for (table, *_rest) in reads
                for (s,) in conn.execute(f"SELECT DISTINCT site_id FROM raw.{table}")
            }
        )
        half = sites[: len(sites) // 2]

        def rows_of(chosen: list[str]) -> int:
            return sum(
                conn.execute(
                    f"SELECT count(*) FROM raw.{table} WHERE site_id = ANY(%s)", (chosen,)
                ).fetchone()[0]
                for (table, *_rest) in reads
            )

        # Raw events are counted for the whole input only, so the half's share of them is
        # taken to be its share of the rows read.
        half_events = events * rows_of(half) / rows_of(sites)

    settings = load_settings()
    builder = SparkSession.builder
    for key, value in spark_config(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    jdbc_url = postgres_url_to_jdbc(database_url)
    properties = {"driver": "org.postgresql.Driver", "fetchsize": str(JDBC_FETCH_SIZE)}
    output = workdir / "orc"

    def one_round(chosen: list[str], variant: str) -> float:
        shutil.rmtree(output, ignore_errors=True)
        before = machine_busy_s()
        site_list = ", ".join(f"'{site}'" for site in chosen)
        for table, columns, date_column, days in reads:
            if variant == "whole_tables":
                query = f"(SELECT {', '.join(columns)} FROM raw.{table}"
                query += f" WHERE site_id IN ({site_list})) AS t"
                frame = spark.read.jdbc(jdbc_url, query, properties=properties)
            else:
                frame = read_raw_rectangle(
                    spark, jdbc_url, table, columns, days, chosen, date_column
                )
            if variant == "orc":
                frame.write.partitionBy(date_column, "site_id").orc(str(output / table))
            else:
                frame.write.format("noop").mode("overwrite").save()
        return machine_busy_s() - before

    figures: dict = {"tables": len(reads), "sites": len(sites), "half_sites": len(half)}
    try:
        # A first round starts the JVM and compiles the hot code, so the timed rounds leave
        # that out.
        one_round(sites, "orc")
        for variant in ("rectangle", "whole_tables", "orc"):
            full = [one_round(sites, variant) for _ in range(rounds)]
            halves = [one_round(half, variant) for _ in range(rounds)]
            slope = (statistics.median(full) - statistics.median(halves)) / (events - half_events)
            figures[variant] = {
                "all_sites_s": [round(x, 2) for x in full],
                "half_sites_s": [round(x, 2) for x in halves],
                "us_per_event": round(slope * 1e6, 1),
            }
    finally:
        shutil.rmtree(output, ignore_errors=True)
        spark.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2, help="Ansible runs per site and day")
    parser.add_argument("--hosts", type=int, default=4, help="hosts per site")
    parser.add_argument(
        "--registrations", type=int, default=3300, help="AMF registrations per site and day"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each Spark floor")
    parser.add_argument(
        "--cores", type=int, default=os.cpu_count(), help="cores the end-to-end budget counts"
    )
    parser.add_argument("--workdir", type=Path, default=REPO / "data" / "bench-floors")
    args = parser.parse_args()
    os.environ.setdefault("DM_PSEUDONYM_KEY", "bench-" + "0" * 32)
    workdir = args.workdir.resolve()
    os.environ.setdefault("DM_DATA_DIR", str(workdir / "data"))
    # Both JIT tiers, the JVM's default: the least CPU per row once the code is compiled.
    os.environ.setdefault("DM_SPARK_DRIVER_JAVA_OPTIONS", "-XX:TieredStopAtLevel=4")
    landing = workdir / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    figures: dict = {"sites": args.sites, "days": args.days, "cores": args.cores}
    database_url = f"{SERVER_URL}/floors_bench_{os.getpid()}"
    from deploy_manager.db.connection import drop_database

    try:
        figures.update(generate(landing, args))
        events = figures["raw_events"]
        print(f"generated {events} raw events", file=sys.stderr, flush=True)
        figures["python_reading_s"] = python_reading_floor(landing)
        figures["ingest"] = ingest_once(landing, database_url, keep_database=True)
        figures["postgres_loading"] = postgres_loading_floor(database_url)
        figures["spark_reading"] = spark_reading_floor(database_url, events, args.rounds, workdir)
    finally:
        drop_database(database_url)
        shutil.rmtree(landing, ignore_errors=True)

    def per_event(seconds: float) -> float:
        return round(seconds / events * 1e6, 1)

    ingest_run = figures["ingest"]
    loading = figures["postgres_loading"]
    spark = figures["spark_reading"]
    figures["us_per_event"] = {
        "product_ingest": per_event(ingest_run["python_cpu_s"] + ingest_run["postgres_cpu_s"]),
        "python_reading": per_event(figures["python_reading_s"]),
        "postgres_loading_indexed": per_event(loading["floor_indexed"]),
        "postgres_loading_bare": per_event(loading["floor_bare"]),
        "spark_jdbc_read": spark["rectangle"]["us_per_event"],
        "spark_jdbc_read_whole_tables": spark["whole_tables"]["us_per_event"],
        "spark_jdbc_read_and_orc_write": spark["orc"]["us_per_event"],
        "ingest_budget": INGEST_BUDGET_US,
        "end_to_end_budget": round(args.cores / 150_000 * 1e6, 1),
    }
    print(json.dumps(figures, indent=1, default=str))
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "floors.jsonl").open("a") as handle:
        handle.write(json.dumps(figures, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
