"""Benchmark the REST API over marts that the pipeline materialized from generated runs.

Steps, each timed:

1. Build: generate ansible-runner artifacts for N sites x D days, ingest them and
   materialize every partitioned asset through Dagster and Spark, in runs of at most
   ``--chunk-days`` dates. With ``--marts-from``, the device and 5G core marts get the
   partitions of another pipeline run's warehouse, copied to every (date, site) of the build.
   Skipped when ``--work`` already contains a build of the same size.
2. Serve the API with uvicorn on 127.0.0.1 (one worker, JSON access log to a file), a
   trivial Litestar endpoint with the same server options as the ceiling, and the same
   response from a bare ASGI app, the ceiling of uvicorn alone.
3. Run wrk (2 threads, ``--connections`` connections, ``--duration`` seconds) against each
   read endpoint and the ceiling, ``--runs`` times interleaved, with a warm cache. The
   reported figures are the medians over the runs.
4. Materialize one more day for every site, then time the first API request after the
   change becomes visible (at most ``DM_API_CHECK_SECONDS`` later), ``--new-days`` times.
5. Record the API process's resident memory (VmRSS and its peak VmHWM).

Results go to ``<work>/results.json`` and a Markdown table on stdout. Sends traffic to
127.0.0.1 only. Needs PostgreSQL (DM_TEST_POSTGRES_SERVER, default 127.0.0.1:5432), Java 17
and wrk.

    .venv/bin/python scripts/bench_api.py --work data/bench-api
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
API_PORT = 8765
CEILING_PORT = 8766
SERVER_CEILING_PORT = 8767
DATABASE = "dm_bench_api"

# {site} is the middle site of the build.
ENDPOINTS = [
    "/api/health",
    "/api/deployment-manager/overview?days=7",
    "/api/deployment-manager/sites/{site}?days=30",
    "/api/netops/deployments?days=7",
    "/api/netops/deployments?days=30&site_id={site}",
    "/api/netops/deployment-trends?days=90",
    "/api/netops/failures?days=30&limit=20",
    "/api/5g/registration-kpis?days=7",
    "/api/5g/registration-failures?days=7&limit=20",
    "/api/5g/session-kpis?days=7&limit=100",
    "/api/5g/cell-throughput?days=7&limit=100",
    "/api/5g/nf-health?days=7&limit=100",
    "/api/netops/device-health?days=7&limit=100",
    "/api/netops/config-drift?days=7&limit=100",
    "/api/stats/summary?days=30",
]
FIRST_REQUEST_ENDPOINT = "/api/netops/deployments?days=7"
# The marts that --marts-from fills. Generating and ingesting their input for 100 sites takes
# far longer than the Ansible runs, and the API only reads their partition folders.
COPIED_MARTS = [
    "netops.device_health",
    "netops.config_drift",
    "core5g.registration_kpis",
    "core5g.registration_failures",
    "core5g.session_kpis",
    "core5g.cell_throughput",
    "core5g.nf_health",
]
ALL_MARTS = [
    "netops.ansible_deployment_metrics",
    "netops.deployment_failure_analysis",
    "kpi.site_health_daily",
    *COPIED_MARTS,
]

# Prints one line with the figures this script parses; wrk's own summary lacks p95.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f p50_us=%d p95_us=%d p99_us=%d errors=%d non2xx=%d\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), errors, summary.errors.status))
end
"""

CEILING_APP = """
from litestar import Litestar, get


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, bool]:
    return {"ok": True}


app = Litestar([ping])
"""

# The same response from a bare ASGI callable: what uvicorn itself serves without a framework.
SERVER_CEILING_APP = """
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"11")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})
"""


def log(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


def platform_env(work: Path) -> dict[str, str]:
    server = os.environ.get("DM_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
    return {
        "DM_DATA_DIR": str(work / "data"),
        "DM_POSTGRES_URL": f"{server}/{DATABASE}",
        "DM_LANDING_DIR": str(work / "landing"),
        "DM_SPARK_DRIVER_MEMORY": "3g",
    }


def bench_dates(days: int, new_days: int) -> tuple[list[date], list[date]]:
    """Return the built dates and the dates materialized later, ending yesterday: the
    generated runs spread over the whole day, and the ingest quarantines events dated in
    the future."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = yesterday - timedelta(days=days + new_days - 1)
    dates = [first + timedelta(days=i) for i in range(days + new_days)]
    return dates[:days], dates[days:]


class Pipeline:
    """The platform's Dagster definitions and instance for the benchmark's data folder."""

    def __init__(self, work: Path, landing: Path | None = None) -> None:
        os.environ.update(platform_env(work))
        if landing is not None:
            os.environ["DM_LANDING_DIR"] = str(landing)
        from dagster import DagsterInstance

        from deploy_manager.db.connection import ensure_database
        from deploy_manager.definitions import build_definitions
        from deploy_manager.settings import load_settings

        self.settings = load_settings()
        ensure_database(self.settings.postgres_url)
        # An in-memory instance: a SQLite one commits every planned (asset, partition) event
        # on its own, which takes longer than the Spark work for thousands of partitions.
        # Each ingest registers the sites of its landing folder's inventory again.
        self.instance = DagsterInstance.ephemeral()
        self.defs = build_definitions(self.settings)

    def ingest(self) -> None:
        from deploy_manager.pipeline import ingest

        if not ingest(self.defs, self.instance).success:
            raise SystemExit("ingest failed: see the Dagster log above")

    def materialize(self, first: date, last: date) -> None:
        from deploy_manager.pipeline import materialize_rectangle

        if not materialize_rectangle(self.defs, self.instance, first, last).success:
            raise SystemExit(f"materializing {first}..{last} failed: see the Dagster log above")


def fill_by_copy(warehouse: Path, dates: list[date], pipeline_days: int) -> int:
    """Give dates[pipeline_days:] the partition folders of the materialized dates, in turn.

    The API reads the folders only, so copies stand for materialized dates in a read
    benchmark. Returns the partition folders copied.
    """
    copied = 0
    for table in sorted(warehouse.glob("*.db/*")):
        for index, day in enumerate(dates[pipeline_days:]):
            source = table / f"date={dates[index % pipeline_days]}"
            if source.is_dir():
                shutil.copytree(source, table / f"date={day}")
                copied += sum(1 for _ in source.glob("site_id=*"))
    return copied


def copy_marts(
    source: Path,
    warehouse: Path,
    sites: list[str],
    dates: list[date],
    tables: list[str] = COPIED_MARTS,
) -> int:
    """Give every (date, site) of ``tables`` the files of one partition of the same table in
    the ``source`` warehouse, taking its partitions in turn. Returns the partitions written.

    Raises:
        SystemExit: ``source`` has no partition of one of the tables.
    """
    written = 0
    for table in tables:
        database, name = table.split(".")
        source_table = source / f"{database}.db" / name
        partitions = sorted(
            folder for folder in source_table.glob("date=*/site_id=*") if any(folder.glob("*.orc"))
        )
        if not partitions:
            raise SystemExit(
                f"{source_table} has no partition: pass --marts-from the warehouse of a "
                "pipeline run with device and 5G core data, such as the demo's data/warehouse"
            )
        target_table = warehouse / f"{database}.db" / name
        index = 0
        for day in dates:
            for site in sites:
                target = target_table / f"date={day}" / f"site_id={site}"
                if target.exists():
                    shutil.rmtree(target)
                target.mkdir(parents=True)
                for path in partitions[index % len(partitions)].glob("*.orc"):
                    shutil.copyfile(path, target / path.name)
                index += 1
                written += 1
    return written


def build(
    work: Path,
    sites: list[str],
    dates: list[date],
    chunk_days: int,
    pipeline_days: int,
    marts_from: Path | None,
) -> dict:
    """Generate, ingest and materialize the marts; return the seconds each step took.

    Only the first ``pipeline_days`` dates go through the pipeline, the others are copies.
    """
    from deploy_manager.db.connection import drop_database
    from deploy_manager.netops.generator import write_artifacts, write_inventory

    if work.exists():
        shutil.rmtree(work)
    drop_database(platform_env(work)["DM_POSTGRES_URL"])
    timings = {}
    started = time.monotonic()
    landing = work / "landing"
    write_inventory(landing / "inventory" / "sites.json", sites, 4)
    runs = write_artifacts(landing / "ansible" / "generated", sites, dates[:pipeline_days])
    timings["generate_s"] = round(time.monotonic() - started, 1)
    log(f"generated {len(runs)} runs in {timings['generate_s']} s")

    pipeline = Pipeline(work)
    started = time.monotonic()
    pipeline.ingest()
    timings["ingest_s"] = round(time.monotonic() - started, 1)
    log(f"ingested in {timings['ingest_s']} s")

    started = time.monotonic()
    for index in range(0, pipeline_days, chunk_days):
        chunk = dates[index : min(index + chunk_days, pipeline_days)]
        chunk_started = time.monotonic()
        pipeline.materialize(chunk[0], chunk[-1])
        log(
            f"materialized {chunk[0]}..{chunk[-1]} x {len(sites)} sites "
            f"in {time.monotonic() - chunk_started:.0f} s"
        )
    timings["materialize_s"] = round(time.monotonic() - started, 1)
    timings["runs"] = len(runs)
    timings["pipeline_days"] = pipeline_days
    if pipeline_days < len(dates):
        started = time.monotonic()
        timings["copied_partitions"] = fill_by_copy(
            work / "data" / "warehouse", dates, pipeline_days
        )
        timings["copy_s"] = round(time.monotonic() - started, 1)
    if marts_from is not None:
        started = time.monotonic()
        timings["copied_mart_partitions"] = copy_marts(
            marts_from, work / "data" / "warehouse", sites, dates
        )
        timings["copy_marts_s"] = round(time.monotonic() - started, 1)
        log(f"copied {timings['copied_mart_partitions']} device and 5G core partitions")
    return timings


def wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not respond within {timeout:.0f} s: see the server log")


def start_server(target: str, port: int, env: dict[str, str], log_path: Path, cwd: Path):
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if target.endswith("create_app"):
        command.append("--factory")
    with log_path.open("ab") as output:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)


def memory_kib(pid: int) -> dict[str, int]:
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0])
    return figures


def run_wrk(url: str, duration: int, connections: int, script: Path) -> dict:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    match = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result for {url}:\n{output}")
    values = dict(item.split("=") for item in match.group(1).split())
    return {
        "rps": int(values["requests"]) / float(values["seconds"]),
        "p50_ms": int(values["p50_us"]) / 1000,
        "p95_ms": int(values["p95_us"]) / 1000,
        "p99_ms": int(values["p99_us"]) / 1000,
        "errors": int(values["errors"]),
        "non2xx": int(values["non2xx"]),
    }


def timed_get(url: str) -> tuple[float, dict]:
    """Return the milliseconds from connecting to the last byte, and the JSON body."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return (time.perf_counter() - started) * 1000, json.loads(body)


def new_day_latency(
    work: Path, sites: list[str], day: date, api: str, check_seconds: float
) -> dict:
    """Materialize ``day`` for every site, then time the first request that returns it."""
    from deploy_manager.netops.generator import write_artifacts, write_inventory

    landing = work / f"landing-{day}"
    write_inventory(landing / "inventory" / "sites.json", sites, 4)
    write_artifacts(landing / "ansible" / "generated", sites, [day], seed=day.toordinal())
    pipeline = Pipeline(work, landing)
    pipeline.ingest()
    started = time.monotonic()
    pipeline.materialize(day, day)
    log(f"materialized {day} x {len(sites)} sites in {time.monotonic() - started:.0f} s")
    return time_first_request(day, api, check_seconds)


def new_day_by_copy(warehouse: Path, api: str, check_seconds: float) -> dict:
    """Give every table the day after its latest date, a copy of that date's folder moved in
    with one rename as Spark does, then time the first request that returns it."""
    tables = sorted(t for t in warehouse.glob("*.db/*") if any(t.glob("date=*")))
    latest = max(
        date.fromisoformat(f.name[len("date=") :]) for t in tables for f in t.glob("date=*")
    )
    day = latest + timedelta(days=1)
    for table in tables:
        source = table / f"date={latest}"
        if source.is_dir():
            staging = table / f".staging-{day}"
            shutil.copytree(source, staging)
            staging.rename(table / f"date={day}")
    return time_first_request(day, api, check_seconds)


def time_first_request(day: date, api: str, check_seconds: float) -> dict:
    """Time the requests sent after ``day`` was moved in, until one returns it.

    A watcher in the API looks at the table folders every ``check_seconds`` and reads new
    files in the background, so the requests before it has read them get the previous day
    without waiting. Records the latency of the first request that returns ``day``, the
    slowest request of the wait, the seconds from the change to that response, and the
    request after it.
    """
    changed = time.perf_counter()
    deadline = changed + check_seconds + 30
    slowest_ms = 0.0
    while True:
        first_ms, body = timed_get(api + FIRST_REQUEST_ENDPOINT)
        slowest_ms = max(slowest_ms, first_ms)
        if body["source"]["latest_date"] >= day.isoformat():
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"no request returned {day} within {check_seconds + 30:.0f} s")
        time.sleep(0.02)
    visible_s = time.perf_counter() - changed
    second_ms, _ = timed_get(api + FIRST_REQUEST_ENDPOINT)
    return {
        "day": day.isoformat(),
        "first_ms": round(first_ms, 1),
        "slowest_ms": round(slowest_ms, 1),
        "visible_after_s": round(visible_s, 2),
        "second_ms": round(second_ms, 1),
    }


def load_average() -> list[float]:
    """Return the 1, 5 and 15 minute load averages: other processes skew the figures."""
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    from importlib.metadata import version

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "litestar": version("litestar"),
        "uvicorn": version("uvicorn"),
        "pyarrow": version("pyarrow"),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
    }


def median_of(runs: list[dict]) -> dict:
    return {
        key: round(statistics.median(run[key] for run in runs), 2)
        for key in ("rps", "p50_ms", "p95_ms", "p99_ms")
    } | {"errors": sum(r["errors"] for r in runs), "non2xx": sum(r["non2xx"] for r in runs)}


def measure(args: argparse.Namespace, sites: list[str], new_dates: list[date]) -> dict:
    work = args.work
    warehouse = args.warehouse or work / "data" / "warehouse"
    env = dict(os.environ) | {
        "DM_WAREHOUSE_DIR": str(warehouse),
        # Rate limiting is per key and would cap wrk's single client address.
        "DM_API_RATE_LIMIT": "0",
        "DM_API_CHECK_SECONDS": str(args.check_seconds),
        "PYTHONPATH": str(REPO),
    }
    scratch = Path(tempfile.mkdtemp(prefix="bench-api-"))
    (scratch / "ceiling_app.py").write_text(CEILING_APP)
    (scratch / "server_ceiling_app.py").write_text(SERVER_CEILING_APP)
    wrk_script = scratch / "report.lua"
    wrk_script.write_text(WRK_SCRIPT)
    api = f"http://{HOST}:{API_PORT}"
    ceiling = f"http://{HOST}:{CEILING_PORT}"
    server_ceiling = f"http://{HOST}:{SERVER_CEILING_PORT}"

    started = time.monotonic()
    api_server = start_server("api_service.app:create_app", API_PORT, env, work / "api.log", REPO)
    ceiling_server = start_server(
        "ceiling_app:app", CEILING_PORT, env, work / "ceiling.log", scratch
    )
    server_ceiling_server = start_server(
        "server_ceiling_app:app", SERVER_CEILING_PORT, env, work / "server_ceiling.log", scratch
    )
    try:
        # The first read of every table takes minutes for tens of thousands of files.
        wait_for(api + "/api/health", 1800)
        startup_s = round(time.monotonic() - started, 1)
        wait_for(ceiling + "/ping", 60)
        wait_for(server_ceiling + "/ping", 60)
        log(
            f"API ready in {startup_s} s (tables read at startup), RSS {memory_kib(api_server.pid)}"
        )
        targets = {
            "bare ASGI app (uvicorn ceiling)": server_ceiling + "/ping",
            "trivial Litestar endpoint (ceiling)": ceiling + "/ping",
        }
        site = sites[len(sites) // 2]
        targets |= {path: api + path.format(site=site) for path in ENDPOINTS}
        for url in targets.values():
            timed_get(url)

        results: dict[str, list[dict]] = {name: [] for name in targets}
        for run in range(args.runs):
            for name, url in targets.items():
                result = run_wrk(url, args.duration, args.connections, wrk_script)
                result["load_average"] = load_average()
                results[name].append(result)
                log(
                    f"run {run + 1} {name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']} ms,"
                    f" p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms"
                )
        memory_after_wrk = memory_kib(api_server.pid)

        if args.warehouse is None:
            new_days = [
                new_day_latency(work, sites, day, api, args.check_seconds) for day in new_dates
            ]
        else:
            new_days = [
                new_day_by_copy(warehouse, api, args.check_seconds) for _ in range(args.new_days)
            ]
        for entry in new_days:
            log(
                f"after materializing {entry['day']}: first request returning it "
                f"{entry['first_ms']} ms, slowest request {entry['slowest_ms']} ms, visible "
                f"after {entry['visible_after_s']} s"
            )
        return {
            "startup_s": startup_s,
            "endpoints": {name: median_of(runs) for name, runs in results.items()},
            "runs": results,
            "memory_kib_after_wrk": memory_after_wrk,
            "memory_kib_end": memory_kib(api_server.pid),
            "new_day": new_days,
            "first_request_median_ms": statistics.median(d["first_ms"] for d in new_days)
            if new_days
            else None,
        }
    finally:
        for server in (api_server, ceiling_server, server_ceiling_server):
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(scratch)


def markdown(results: dict) -> str:
    lines = [
        "| endpoint | req/s | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, figures in results["measure"]["endpoints"].items():
        lines.append(
            f"| `{name}` | {figures['rps']:.0f} | {figures['p50_ms']} | {figures['p95_ms']} "
            f"| {figures['p99_ms']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "data" / "bench-api")
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--new-days", type=int, default=3, help="days materialized later")
    parser.add_argument("--chunk-days", type=int, default=10, help="dates per Spark run")
    parser.add_argument(
        "--pipeline-days",
        type=int,
        help="materialize only the first N days through the pipeline and copy their "
        "partition folders to the later days (default: all days)",
    )
    parser.add_argument(
        "--marts-from",
        type=Path,
        help="warehouse of an earlier pipeline run whose device and 5G core partitions are "
        "copied to every (date, site) of the build (default: those marts stay empty)",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        help="serve this warehouse instead of building one (filled from --marts-from when it "
        "does not exist), and add each new day by copying the latest date folder of every "
        "table (the copies stay)",
    )
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per endpoint")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--check-seconds", type=float, default=1.0)
    parser.add_argument(
        "--build-only", action="store_true", help="build the marts, then stop before serving"
    )
    args = parser.parse_args(argv)
    args.work = args.work.resolve()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it (apt-get install wrk)")

    from deploy_manager.netops.generator import site_ids

    sites = site_ids(args.sites)
    dates, new_dates = bench_dates(args.days, args.new_days)
    marker = args.work / "build.json"
    size = {
        "sites": args.sites,
        "days": args.days,
        "first": dates[0].isoformat(),
        "pipeline_days": args.pipeline_days or args.days,
        "marts_from": None if args.marts_from is None else str(args.marts_from.resolve()),
    }
    previous = json.loads(marker.read_text()) if marker.exists() else {}
    if args.warehouse is not None:
        args.warehouse = args.warehouse.resolve()
        args.work.mkdir(parents=True, exist_ok=True)
        size = {"sites": args.sites, "days": args.days, "warehouse": str(args.warehouse)}
        timings = {}
        if not args.warehouse.exists():
            if args.marts_from is None:
                raise SystemExit(
                    f"{args.warehouse} does not exist: pass --marts-from a pipeline run's "
                    "warehouse to fill it with copies of its partitions"
                )
            started = time.monotonic()
            timings["copied_mart_partitions"] = copy_marts(
                args.marts_from, args.warehouse, sites, dates, ALL_MARTS
            )
            timings["copy_marts_s"] = round(time.monotonic() - started, 1)
            log(f"filled {args.warehouse} with {timings['copied_mart_partitions']} partitions")
    elif previous.get("size") == size:
        log(f"reusing the build in {args.work}")
        timings = previous["timings"]
    else:
        log(f"building {args.sites} sites x {args.days} days in {args.work}")
        pipeline_days = min(args.pipeline_days or args.days, args.days)
        timings = build(args.work, sites, dates, args.chunk_days, pipeline_days, args.marts_from)
        marker.write_text(json.dumps({"size": size, "timings": timings}, indent=1))
    if args.build_only:
        return 0
    with socket.socket() as probe:
        if probe.connect_ex((HOST, API_PORT)) == 0:
            raise SystemExit(f"port {API_PORT} is in use: stop what listens there first")
    results = {"machine": machine(), "size": size, "build": timings}
    results["measure"] = measure(args, sites, new_dates)
    (args.work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(markdown(results))
    print(json.dumps({k: v for k, v in results["measure"].items() if k != "runs"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
