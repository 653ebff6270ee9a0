"""Benchmark of the pipeline at N sites x D days, beside the two straightforward designs.

One run of this script:
1. generates the landing folder with the deterministic generators (Ansible artifacts and
   Open5GS AMF/SMF logs, scrapes and CDRs) and counts the raw events written;
2. times the product: ingest (Dagster job ``ingest_landing``), then one backfill run over
   every date x site (Dagster job ``materialize_partitions``, one Spark session), with the
   time of each step and per stage (extract, marts, KPIs, checks), and the peak resident
   memory of this Python process and of the Spark driver JVM;
3. baseline (b), in the same Spark session: a straightforward Spark job that reads the whole
   date range of the raw tables over JDBC in one query, computes the same NetOps marts and
   ``insertInto``s date x site Hive tables in the database ``baseline``, then reads the KPIs
   back. Its ratios are to the whole backfill and to the product's steps of the same marts;
4. baseline (a): one Dagster run per (date, site) for a sample of partitions, each in a new
   process (so each starts its own JVM, as such runs do), extrapolated to all partitions.

Usage: ``.venv/bin/python scripts/bench_pipeline.py`` (100 sites x 30 days, about 10 million
raw events); run it several times for medians.
Results are printed and appended as JSON lines to ``data/bench/pipeline.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _java_peak_rss_mb() -> float | None:
    """Peak resident memory (VmHWM) of the Spark driver JVM started by this process."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if "PPid:" not in text:
            continue
        ppid = int(text.split("PPid:")[1].split()[0])
        name = text.split("Name:")[1].split()[0]
        if ppid == os.getpid() and name == "java":
            hwm = text.split("VmHWM:")[1].split()[0]
            return int(hwm) / 1024
    return None


def _python_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(landing: Path, sites: int, days: int, first: date, args) -> dict:
    from deploy_manager.core5g.sources.generator import GeneratorSettings, generate_core5g_landing
    from deploy_manager.netops.generator import site_ids, write_artifacts, write_inventory

    started = time.monotonic()
    names = site_ids(sites)
    write_inventory(landing / "inventory" / f"inventory-{first}.json", names, args.hosts)
    runs = write_artifacts(
        landing / "ansible" / "generated",
        names,
        [first + timedelta(days=i) for i in range(days)],
        hosts_per_site=args.hosts,
        runs_per_site_day=args.runs,
    )
    ansible_events = sum(run.events for run in runs)
    registrations = 0
    if args.registrations:
        generated = generate_core5g_landing(
            landing / "core5g",
            GeneratorSettings(
                sites=sites,
                days=days,
                start_date=first,
                registrations_per_site_day=args.registrations,
                ues_per_site=max(args.registrations // 4, 1),
            ),
        )
        registrations = generated.registrations
    return {
        "generate_s": time.monotonic() - started,
        "ansible_runs": len(runs),
        "ansible_events": ansible_events,
        "registrations": registrations,
        "raw_events": ansible_events + registrations,
    }


def run_product(first: date, last: date) -> dict:
    from dagster import DagsterEventType, DagsterInstance

    from deploy_manager.definitions import build_definitions
    from deploy_manager.pipeline import ingest, materialize_rectangle
    from deploy_manager.settings import load_settings

    defs = build_definitions(load_settings())
    instance = DagsterInstance.get()
    started = time.monotonic()
    if not ingest(defs, instance).success:
        raise RuntimeError("ingest failed: see the log above")
    ingest_s = time.monotonic() - started
    # ru_maxrss only grows, so this is the peak of everything before the backfill.
    python_peak_before_backfill_mb = _python_peak_rss_mb()
    started = time.monotonic()
    result = materialize_rectangle(defs, instance, first, last)
    if not result.success:
        raise RuntimeError("backfill failed: see the log above")
    backfill_s = time.monotonic() - started
    # Before the reads below, which deserialize events of the run in this process.
    python_peak_mb = _python_peak_rss_mb()
    steps = {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 2)
        for event in result.all_events
        if event.event_type == DagsterEventType.STEP_SUCCESS
    }
    # Set-up: from the run's first event (its planned materializations and checks, written
    # when the run is created) to its first step. Only those events are read. All events of
    # a 400-partition run took 215 MB once deserialized, so over 1 GB at 3,000 (an estimate).
    first_event = instance.get_records_for_run(result.run_id, limit=1).records[0]
    run_start = first_event.event_log_entry.timestamp
    first_step = min(
        e.timestamp for e in instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_START)
    )
    return {
        "ingest_s": ingest_s,
        "backfill_s": backfill_s,
        "python_peak_before_backfill_mb": python_peak_before_backfill_mb,
        "python_peak_mb": python_peak_mb,
        "setup_s": round(first_step - run_start, 2),
        "stages_s": stage_seconds(result.all_events, steps),
        "steps": steps,
    }


def stage_seconds(events, steps: dict[str, float]) -> dict[str, float]:
    """Sum the step durations per stage, by what each step recorded: raw tables (extract),
    KPI aggregates, the other marts, and checks."""
    from dagster import DagsterEventType

    stage_of_step: dict[str, str] = {}
    for event in events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            stage_of_step[event.step_key] = "checks"
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            layer = event.asset_key.path[0]
            stage_of_step[event.step_key] = {"raw": "extract", "kpi": "kpis"}.get(layer, "marts")
    totals = {"extract": 0.0, "marts": 0.0, "kpis": 0.0, "checks": 0.0, "other": 0.0}
    for step, seconds in steps.items():
        totals[stage_of_step.get(step, "other")] += seconds
    return {stage: round(seconds, 2) for stage, seconds in totals.items()}


# The product's steps of the marts that run_baseline_spark computes, the two registration
# marts last because the baseline computes them only when there are registrations.
BASELINE_MART_STEPS = (
    "netops__ansible_deployment_metrics",
    "netops__deployment_failure_analysis",
    "core5g__registration_kpis",
    "core5g__registration_failures",
)


def run_baseline_spark(first: date, last: date, with_registrations: bool) -> float:
    """Run the straightforward Spark job and return its seconds: one JDBC query per raw table
    for the whole range, the same NetOps marts (and registration marts when there are
    registrations), insertInto date x site tables, KPIs read back."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from deploy_manager.core5g import marts as core5g_marts
    from deploy_manager.core5g.assets import REGISTRATION_COLUMNS
    from deploy_manager.core5g.settings import Core5gSettings
    from deploy_manager.netops import marts
    from deploy_manager.settings import load_settings

    settings = load_settings()
    spark = SparkSession.builder.getOrCreate()
    started = time.monotonic()
    props = {"driver": "org.postgresql.Driver"}

    def read(table: str, columns: str = "*", date_column: str = "run_date"):
        where = f"{date_column} BETWEEN DATE '{first}' AND DATE '{last}'"
        query = f"(SELECT {columns} FROM raw.{table} WHERE {where}) AS t"
        return spark.read.jdbc(settings.jdbc_url, query, properties=props)

    metrics = marts.deployment_metrics(
        read("ansible_run_sites"), read("ansible_host_stats"), 95.0, 80.0
    )
    failures = marts.failure_analysis(read("ansible_host_results"))
    outputs = [("deployment_metrics", metrics), ("failure_analysis", failures)]
    if with_registrations:
        attempts = read(
            "amf_registration_attempts", ", ".join(REGISTRATION_COLUMNS), "event_date"
        ).cache()
        thresholds = Core5gSettings()
        outputs.append(
            (
                "registration_kpis",
                core5g_marts.registration_kpis(
                    attempts,
                    thresholds.reg_healthy_rate,
                    thresholds.reg_critical_rate,
                    thresholds.reg_max_p95_ms,
                ),
            )
        )
        outputs.append(("registration_failures", core5g_marts.registration_failures(attempts)))
    spark.sql("CREATE DATABASE IF NOT EXISTS baseline")
    for name, frame in outputs:
        columns = [c for c in frame.columns if c not in ("date", "site_id")]
        spark.sql(f"DROP TABLE IF EXISTS baseline.{name}")
        frame.select(*columns, "date", "site_id").limit(0).write.format("orc").partitionBy(
            "date", "site_id"
        ).saveAsTable(f"baseline.{name}")
        frame.select(*columns, "date", "site_id").write.insertInto(
            f"baseline.{name}", overwrite=True
        )
    spark.table("baseline.deployment_metrics").groupBy("date", "site_id").agg(
        F.sum("successful"), F.sum("failed")
    ).collect()
    return time.monotonic() - started


def _stop_jvm() -> None:
    """Stop the Spark session and its JVM, which releases the embedded Derby metastore for
    the child processes of baseline (a)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    gateway = SparkContext._gateway
    SparkSession.builder.getOrCreate().stop()
    if gateway is not None:
        gateway.shutdown()
        gateway.proc.terminate()
        gateway.proc.wait(timeout=60)
        SparkContext._gateway = None
        SparkContext._jvm = None


def run_baseline_per_partition(sample: list[tuple[date, str]], env: dict[str, str]) -> float:
    """Median seconds of one Dagster run per (date, site), each in a new process."""
    times = []
    for day, site in sample:
        started = time.monotonic()
        completed = subprocess.run(
            [
                str(Path(sys.executable).with_name("deploy-manager")),
                "materialize",
                "--from",
                str(day),
                "--to",
                str(day),
                "--sites",
                site,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"per-partition run {day} {site} failed:\n{completed.stderr}")
        times.append(time.monotonic() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=2, help="Ansible runs per site and day")
    parser.add_argument("--hosts", type=int, default=4, help="hosts per site")
    parser.add_argument(
        "--registrations",
        type=int,
        default=3300,
        help="AMF registrations per site and day, with their SMF logs, scrapes and CDRs (0: no "
        "5G data). The default gives about 10 million raw events at 100 sites x 30 days",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=2,
        help="partitions timed as one Dagster run each (baseline a)",
    )
    parser.add_argument("--workdir", type=Path, default=REPO / "data" / "bench")
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="time the product only (for profiling); the ratios are then not computed",
    )
    args = parser.parse_args()

    workdir = args.workdir.resolve()
    shutil.rmtree(workdir / "run", ignore_errors=True)
    first = date(2026, 10, 1)
    last = first + timedelta(days=args.days - 1)
    database = f"dm_bench_{os.getpid()}"
    env = {
        **os.environ,
        "DM_DATA_DIR": str(workdir / "run" / "data"),
        "DM_LANDING_DIR": str(workdir / "run" / "landing"),
        "DM_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
        "DM_PSEUDONYM_KEY": os.environ.get("DM_PSEUDONYM_KEY", "bench-" + "0" * 32),
        # The product's instance (dagster.yaml of the repository) in a database of its own.
        "DAGSTER_HOME": str(REPO),
        "DAGSTER_PG_DB": f"{database}_dagster",
        "DAGSTER_STORAGE_DIR": str(workdir / "run" / "dagster-storage"),
    }
    os.environ.update(env)

    from deploy_manager.db.connection import drop_database, ensure_database
    from deploy_manager.instance import dagster_database_url, use_platform_instance
    from deploy_manager.settings import load_settings

    ensure_database(env["DM_POSTGRES_URL"])
    use_platform_instance(load_settings())
    try:
        figures = {"sites": args.sites, "days": args.days}
        figures.update(generate(Path(env["DM_LANDING_DIR"]), args.sites, args.days, first, args))
        print(
            f"generated {figures['raw_events']} raw events in {figures['generate_s']:.0f} s",
            flush=True,
        )
        figures.update(run_product(first, last))
        figures["spark_driver_peak_mb"] = _java_peak_rss_mb()
        product_s = figures["ingest_s"] + figures["backfill_s"]
        figures["end_to_end_s"] = product_s
        figures["events_per_s"] = figures["raw_events"] / product_s
        if args.no_baselines:
            return _report(figures, workdir)
        figures["baseline_spark_s"] = run_baseline_spark(first, last, args.registrations > 0)
        _stop_jvm()
        sample = [(first + timedelta(days=i), f"SITE{i + 1:03d}") for i in range(args.sample)]
        per_partition = run_baseline_per_partition(sample, env)
        partitions = args.sites * args.days
        figures["baseline_per_partition_s"] = per_partition
        figures["baseline_per_partition_total_s_extrapolated"] = per_partition * partitions
        figures["ratio_vs_spark_baseline"] = figures["baseline_spark_s"] / figures["backfill_s"]
        # Like for like: the product's steps of the marts that baseline (b) computes.
        same_marts = BASELINE_MART_STEPS[: 4 if args.registrations > 0 else 2]
        figures["product_steps_of_baseline_marts_s"] = sum(
            figures["steps"][step] for step in same_marts
        )
        figures["ratio_vs_spark_baseline_same_marts"] = (
            figures["baseline_spark_s"] / figures["product_steps_of_baseline_marts_s"]
        )
        figures["ratio_vs_per_partition_runs"] = (
            figures["baseline_per_partition_total_s_extrapolated"] / figures["backfill_s"]
        )
    finally:
        drop_database(env["DM_POSTGRES_URL"])
        drop_database(dagster_database_url())
    return _report(figures, workdir)


def _report(figures: dict, workdir: Path) -> int:
    print(json.dumps(figures, indent=1, default=str))
    out = workdir / "pipeline.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as handle:
        handle.write(json.dumps(figures, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
