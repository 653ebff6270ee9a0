"""Lower bounds of the pipeline's CPU time per raw event, measured part by part on one input.

The pipeline's throughput targets set a CPU budget per raw event on this machine:
- ingest at 50,000 raw events per second per core: 20 µs of CPU per event;
- end to end at 150,000 raw events per second on N cores: N / 150,000 s of CPU per event,
  13.3 µs on 2 cores, for the ingest, the marts, the KPIs and the checks together.

This script measures what no implementation of the pipeline's design can avoid, each part
with everything else left out, and prints it per raw event beside those budgets:

1. Python reading: each landing file decoded and split into lines, one regular expression
   per log line, ``json.loads`` per JSON record, the CSV reader per CSV row, a split per
   scrape line. No parser does less with the input.
2. PostgreSQL loading: the rows the product's ingest wrote, exported with binary COPY and
   loaded again with binary COPY, into the raw tables (with their keys and indexes) and
   into copies of them without any index. Counted: CPU time of the PostgreSQL backend.
3. Spark reading: every raw table read over JDBC as the mart steps read it
   (``read_raw_rectangle``), into Spark's ``noop`` sink, then with one query per table,
   and then written as ORC partitioned by (date, site) with no computation. Counted: busy
   time of the whole machine from /proc/stat, which includes the PostgreSQL backends serving
   the reads, so nothing else should run. The JVM is started and warmed first, and the
   median of ``--rounds`` rounds is printed.

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

from bench_ingest import SERVER_URL, _backend_cpu_s, _own_cpu_s, generate

REPO = Path(__file__).resolve().parent.parent
_LOG_LINE_HEAD = re.compile(r"\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{3}: ")
INGEST_BUDGET_US = 1e6 / 50_000


def machine_busy_s() -> float:
    """Return the CPU seconds all cores spent busy since boot (every state but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


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


def ingest(landing: Path, database_url: str) -> dict:
    """Ingest ``landing`` with the product into a new database; return its CPU seconds."""
    from deploy_manager.core5g.landing import ingest_core5g_landing
    from deploy_manager.db.connection import connect, drop_database, ensure_database
    from deploy_manager.db.migrate import apply_migrations
    from deploy_manager.netops.devices.load import ingest_device_landing
    from deploy_manager.netops.load import ingest_landing

    drop_database(database_url)
    ensure_database(database_url)
    with connect(database_url) as conn:
        apply_migrations(conn)
        conn.commit()
        backend = conn.info.backend_pid
        backend_before, own_before = _backend_cpu_s(backend), _own_cpu_s()
        started = time.monotonic()
        ingest_landing(conn, landing)
        ingest_device_landing(conn, landing)
        ingest_core5g_landing(conn, landing)
        conn.commit()
        return {
            "wall_s": time.monotonic() - started,
            "python_cpu_s": _own_cpu_s() - own_before,
            "postgres_cpu_s": _backend_cpu_s(backend) - backend_before,
        }


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
        for schema in ("floor_bare", "floor_indexed"):
            backend = conn.info.backend_pid
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


def spark_reading_floor(database_url: str, rounds: int, workdir: Path) -> dict:
    """Read every raw table that has a date and a site over JDBC, into the noop sink and
    into ORC files partitioned by (date, site), and return the median machine-busy seconds."""
    import psycopg
    from pyspark.sql import SparkSession

    from deploy_manager.resources.spark import spark_config
    from deploy_manager.resources.warehouse import JDBC_FETCH_SIZE, read_raw_rectangle
    from deploy_manager.settings import load_settings

    settings = load_settings()
    builder = SparkSession.builder
    for key, value in spark_config(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    reads = []
    with psycopg.connect(database_url) as conn:
        for table in _raw_tables(conn):
            columns = [
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
            sites = [s for (s,) in conn.execute(f"SELECT DISTINCT site_id FROM raw.{table}")]
            if days:
                reads.append((table, columns, date_column, days, sites))
    jdbc_url = f"jdbc:postgresql://{database_url.split('@', 1)[1]}?user=postgres"
    output = workdir / "orc"
    properties = {"driver": "org.postgresql.Driver", "fetchsize": str(JDBC_FETCH_SIZE)}

    def one_round(write_orc: bool, whole_tables: bool = False) -> float:
        shutil.rmtree(output, ignore_errors=True)
        before = machine_busy_s()
        for table, columns, date_column, days, sites in reads:
            if whole_tables:
                frame = spark.read.jdbc(jdbc_url, f"raw.{table}", properties=properties)
            else:
                frame = read_raw_rectangle(
                    spark, jdbc_url, table, columns, days, sites, date_column
                )
            if write_orc:
                frame.write.partitionBy(date_column, "site_id").orc(str(output / table))
            else:
                frame.write.format("noop").mode("overwrite").save()
        return machine_busy_s() - before

    # A first round starts the JVM and compiles the hot code, so the timed rounds leave that out.
    one_round(write_orc=True)
    read_only = [one_round(write_orc=False) for _ in range(rounds)]
    # One query per table instead of the product's queries per date and group of sites.
    whole_tables = [one_round(write_orc=False, whole_tables=True) for _ in range(rounds)]
    read_and_write = [one_round(write_orc=True) for _ in range(rounds)]
    shutil.rmtree(output, ignore_errors=True)
    spark.stop()
    return {
        "tables": len(reads),
        "read_s": statistics.median(read_only),
        "read_and_write_s": statistics.median(read_and_write),
        "whole_tables_read_s": statistics.median(whole_tables),
        "read_rounds": [round(s, 2) for s in read_only],
        "read_and_write_rounds": [round(s, 2) for s in read_and_write],
    }


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
    landing = workdir / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    figures: dict = {"sites": args.sites, "days": args.days, "cores": args.cores}
    figures.update(generate(landing, args))
    events = figures["raw_events"]
    print(f"generated {events} raw events", file=sys.stderr, flush=True)

    database_url = f"{SERVER_URL}/floors_bench_{os.getpid()}"
    from deploy_manager.db.connection import drop_database

    try:
        figures["python_reading_s"] = python_reading_floor(landing)
        figures["ingest"] = ingest(landing, database_url)
        figures["postgres_loading"] = postgres_loading_floor(database_url)
        figures["spark_reading"] = spark_reading_floor(database_url, args.rounds, workdir)
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
        "spark_jdbc_read": per_event(spark["read_s"]),
        "spark_jdbc_read_whole_tables": per_event(spark["whole_tables_read_s"]),
        "spark_jdbc_read_and_orc_write": per_event(spark["read_and_write_s"]),
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
