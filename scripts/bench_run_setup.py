"""Benchmark of the set-up of one ``materialize_partitions`` run over N dates x M sites.

Set-up is what Dagster does before the first step: build the execution plan and create the
run, which records the planned materializations and check evaluations. Each repeat uses a
new SQLite Dagster instance in a temporary folder. ``--per-partition-planned-events`` is the
baseline: Dagster's default of one planned event per asset output and partition.

Usage: ``.venv/bin/python scripts/bench_run_setup.py --sites 100 --days 1 --repeat 3``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta


def time_setup(sites: int, days: int) -> float:
    """Return the seconds to plan and create one run in a new instance."""
    from dagster import DagsterInstance
    from dagster._core.execution.api import create_execution_plan

    from deploy_manager.definitions import build_definitions
    from deploy_manager.pipeline import range_tags
    from deploy_manager.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="dm-bench-setup-") as home:
        os.environ["DAGSTER_HOME"] = home
        instance = DagsterInstance.get()
        instance.add_dynamic_partitions("site", [f"SITE{i:03d}" for i in range(1, sites + 1)])
        job = build_definitions(load_settings()).resolve_job_def("materialize_partitions")
        first = date(2026, 10, 1)
        tags = range_tags(instance, first, first + timedelta(days=days - 1))
        started = time.monotonic()
        plan = create_execution_plan(job, tags=tags, instance_ref=instance.get_ref())
        instance.create_run_for_job(job, execution_plan=plan, tags=tags)
        seconds = time.monotonic() - started
        instance.dispose()
        return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--per-partition-planned-events",
        action="store_true",
        help="baseline: one planned event per asset output and partition",
    )
    args = parser.parse_args()
    if args.per_partition_planned_events:
        os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "false"
    times = [time_setup(args.sites, args.days) for _ in range(args.repeat)]
    print(
        f"set-up of {args.days} dates x {args.sites} sites: runs "
        f"{', '.join(f'{t:.1f}' for t in times)} s, median {statistics.median(times):.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
