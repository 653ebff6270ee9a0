"""Benchmark of the landing ingest (Dagster job ``ingest_landing``) at N sites x D days.

One run of this script:
1. generates the landing folder once with the deterministic generators (Ansible artifacts,
   an inventory snapshot and Open5GS AMF/SMF logs, scrapes and CDRs, as
   scripts/bench_pipeline.py does) and counts the raw events written: Ansible job events
   plus AMF registration attempts;
2. runs the ingest of the current code ``--repeat`` times in this process, each on a fresh
   database, calling what the ``landing_ingest`` asset calls in the same order and with the
   same commits, but without Dagster;
3. runs the same measurement on the code of the git revision ``--baseline-ref`` in a child
   process. ``git archive`` exports that revision's package into the work folder, and the
   child's PYTHONPATH puts that copy first. Both versions thus read the same landing folder
   on the same machine state.

For each it prints the median wall time, events/s and events/s per core. A core second is
one second of CPU time used by the ingest: user plus system time of the Python process and
its child processes (parse workers), plus that of the PostgreSQL backend serving its
connection, read from /proc/<pid>/stat. PostgreSQL's background writer, WAL writer and
checkpointer are not counted. Results are appended as JSON lines to ``<workdir>/ingest.jsonl``.

Usage: ``.venv/bin/python scripts/bench_ingest.py --sites 100 --days 1 --registrations 1000``.
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
SERVER_URL = os.environ.get("DM_BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
FIRST_DAY = date(2026, 10, 1)


def generate(landing: Path, args: argparse.Namespace) -> dict:
    """Write the landing folder and return the counts of raw events in it."""
    from deploy_manager.core5g.sources.generator import GeneratorSettings, generate_core5g_landing
    from deploy_manager.netops.generator import site_ids, write_artifacts, write_inventory

    started = time.monotonic()
    names = site_ids(args.sites)
    write_inventory(landing / "inventory" / f"inventory-{FIRST_DAY}.json", names, args.hosts)
    runs = write_artifacts(
        landing / "ansible" / "generated",
        names,
        [FIRST_DAY + timedelta(days=i) for i in range(args.days)],
        hosts_per_site=args.hosts,
        runs_per_site_day=args.runs,
    )
    ansible_events = sum(run.events for run in runs)
    registrations = 0
    core5g_files = 0
    if args.registrations:
        generated = generate_core5g_landing(
            landing / "core5g",
            GeneratorSettings(
                sites=args.sites,
                days=args.days,
                start_date=FIRST_DAY,
                registrations_per_site_day=args.registrations,
                ues_per_site=max(args.registrations // 4, 1),
            ),
        )
        registrations = generated.registrations
        core5g_files = generated.files
    return {
        "generate_s": round(time.monotonic() - started, 2),
        "ansible_runs": len(runs),
        "ansible_events": ansible_events,
        "registrations": registrations,
        "core5g_files": core5g_files,
        "raw_events": ansible_events + registrations,
    }


def _backend_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of one PostgreSQL backend process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of proc(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def ingest_once(landing: Path, database_url: str, keep_database: bool = False) -> dict:
    """Ingest ``landing`` into a fresh database as the landing_ingest asset does, and time it.

    The database is dropped afterwards unless ``keep_database`` is set.
    """
    from deploy_manager.core5g.landing import ingest_core5g_landing
    from deploy_manager.db.connection import connect, drop_database, ensure_database
    from deploy_manager.db.migrate import apply_migrations
    from deploy_manager.netops.devices.load import ingest_device_landing
    from deploy_manager.netops.load import ingest_landing

    drop_database(database_url)
    ensure_database(database_url)
    try:
        with connect(database_url) as conn:
            apply_migrations(conn)
            conn.commit()
            backend = conn.info.backend_pid
            backend_before = _backend_cpu_s(backend)
            cpu_before = _own_cpu_s()
            started = time.monotonic()
            ingest_landing(conn, landing)
            ingest_device_landing(conn, landing)
            conn.commit()
            ansible_s = time.monotonic() - started
            core5g = ingest_core5g_landing(conn, landing)
            conn.commit()
            wall_s = time.monotonic() - started
            python_cpu_s = _own_cpu_s() - cpu_before
            postgres_cpu_s = _backend_cpu_s(backend) - backend_before
            counts = dict(
                conn.execute(
                    "SELECT 'registrations', count(*) FROM raw.amf_registration_attempts"
                    " UNION ALL SELECT 'increases', count(*) FROM raw.nf_counter_increases"
                    " UNION ALL SELECT 'samples', count(*) FROM raw.nf_metric_samples"
                    " UNION ALL SELECT 'quarantine', count(*) FROM raw.quarantine"
                    " UNION ALL SELECT 'host_results', count(*) FROM raw.ansible_host_results"
                ).fetchall()
            )
    finally:
        if not keep_database:
            drop_database(database_url)
    return {
        "wall_s": wall_s,
        "ansible_s": ansible_s,
        "core5g_s": wall_s - ansible_s,
        "python_cpu_s": python_cpu_s,
        "postgres_cpu_s": postgres_cpu_s,
        "core5g_files_ingested": core5g.summary.files_ingested if core5g else 0,
        "rows": counts,
    }


def measure(landing: Path, events: int, repeat: int, database_prefix: str) -> dict:
    """Run ingest_once ``repeat`` times and return the medians."""
    runs = []
    for index in range(repeat):
        run = ingest_once(landing, f"{SERVER_URL}/{database_prefix}_{os.getpid()}_{index}")
        print(
            f"  run {index + 1}: {run['wall_s']:.2f} s wall, python {run['python_cpu_s']:.2f} s"
            f" + postgres {run['postgres_cpu_s']:.2f} s CPU",
            file=sys.stderr,
            flush=True,
        )
        runs.append(run)
    if any(run["rows"] != runs[0]["rows"] for run in runs):
        raise RuntimeError(f"the repeats wrote different row counts: {[r['rows'] for r in runs]}")
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["python_cpu_s"] + r["postgres_cpu_s"] for r in runs)
    return {
        "wall_s": round(wall, 3),
        "ansible_s": round(statistics.median(r["ansible_s"] for r in runs), 3),
        "core5g_s": round(statistics.median(r["core5g_s"] for r in runs), 3),
        "python_cpu_s": round(statistics.median(r["python_cpu_s"] for r in runs), 3),
        "postgres_cpu_s": round(statistics.median(r["postgres_cpu_s"] for r in runs), 3),
        "cpu_s": round(cpu, 3),
        "events_per_s": round(events / wall),
        "events_per_core_s": round(events / cpu),
        "events_per_s_per_core_of_2": round(events / wall / 2),
        "rows": runs[0]["rows"],
        "runs": [round(r["wall_s"], 3) for r in runs],
    }


def export_package(ref: str, workdir: Path) -> Path:
    """Export the ``deploy_manager`` package at git revision ``ref`` into
    ``workdir/baseline-src`` and return that folder, to put first on a child's PYTHONPATH."""
    source = workdir / "baseline-src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "deploy_manager"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return source


def measure_baseline(landing: Path, events: int, args: argparse.Namespace, workdir: Path) -> dict:
    """Export the package at ``--baseline-ref`` and measure it in a child process."""
    source = export_package(args.baseline_ref, workdir)
    out = workdir / "baseline.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure-only",
        str(landing),
        "--events",
        str(events),
        "--repeat",
        str(args.repeat),
        "--output",
        str(out),
        "--database-prefix",
        args.database_prefix,
    ]
    env = {**os.environ, "PYTHONPATH": str(source)}
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2, help="Ansible runs per site and day")
    parser.add_argument("--hosts", type=int, default=4, help="hosts per site")
    parser.add_argument(
        "--registrations", type=int, default=1000, help="AMF registrations per site and day"
    )
    parser.add_argument("--repeat", type=int, default=3, help="ingests per code version")
    parser.add_argument(
        "--baseline-ref",
        default="e9373df",
        help="git revision whose ingest is the baseline; 'none' skips the baseline",
    )
    parser.add_argument("--workdir", type=Path, default=REPO / "data" / "bench-ingest")
    parser.add_argument(
        "--database-prefix", default="ingest_bench", help="prefix of the databases it creates"
    )
    parser.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DM_PSEUDONYM_KEY", "bench-" + "0" * 32)

    if args.measure_only:
        result = measure(
            args.measure_only, args.events, args.repeat, f"{args.database_prefix}_base"
        )
        args.output.write_text(json.dumps(result))
        return 0

    workdir = args.workdir.resolve()
    landing = workdir / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    figures: dict = {"sites": args.sites, "days": args.days, "repeat": args.repeat}
    figures.update(generate(landing, args))
    events = figures["raw_events"]
    print(
        f"generated {events} raw events and {figures['core5g_files']} 5G core files"
        f" in {figures['generate_s']:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    print("current code:", file=sys.stderr, flush=True)
    figures["current"] = measure(landing, events, args.repeat, args.database_prefix)
    if args.baseline_ref != "none":
        print(f"baseline {args.baseline_ref}:", file=sys.stderr, flush=True)
        baseline = measure_baseline(landing, events, args, workdir)
        figures["baseline_ref"] = args.baseline_ref
        figures["baseline"] = baseline
        if baseline["rows"] != figures["current"]["rows"]:
            print(
                f"row counts differ: current {figures['current']['rows']},"
                f" baseline {baseline['rows']}",
                file=sys.stderr,
            )
        figures["speedup_wall"] = round(baseline["wall_s"] / figures["current"]["wall_s"], 1)
        figures["speedup_cpu"] = round(baseline["cpu_s"] / figures["current"]["cpu_s"], 1)
    shutil.rmtree(landing, ignore_errors=True)
    print(json.dumps(figures, indent=1))
    with (workdir / "ingest.jsonl").open("a") as handle:
        handle.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
