"""Summarize a Spark event log: where the Spark work of a session spent its time.

Spark writes the log when ``DM_SPARK_EVENT_LOG_DIR`` is set, one file per session. This
prints the session's length, then the SQL executions grouped by their description (the
action and where it was called, such as ``insertInto`` or ``collect at warehouse.py``),
with their count, total wall seconds, the Spark jobs, completed stages and tasks they ran,
the seconds their tasks ran (summed over tasks) and the files they wrote. Jobs outside any
SQL execution are grouped by their call site.

Usage: ``.venv/bin/python scripts/spark_event_summary.py EVENT_LOG_FILE [--top 25]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"
SQL_PLAN_UPDATE = "org.apache.spark.sql.execution.ui.SparkListenerSQLAdaptiveExecutionUpdate"
DRIVER_ACCUMULATORS = "org.apache.spark.sql.execution.ui.SparkListenerDriverAccumUpdates"
WRITTEN_FILES_METRIC = "number of written files"


@dataclass
class Group:
    """Totals of the executions (or jobs) of one description."""

    seconds: list[float] = field(default_factory=list)
    jobs: int = 0
    stages: int = 0
    tasks: int = 0
    task_seconds: float = 0.0
    files: int = 0


def _metric_ids(plan: dict, name: str) -> set[int]:
    """Accumulator ids of the metric ``name`` in a plan description and its children."""
    ids = {m["accumulatorId"] for m in plan.get("metrics", []) if m.get("name") == name}
    for child in plan.get("children", []):
        ids |= _metric_ids(child, name)
    return ids


def summarize(path: Path) -> tuple[float, dict[str, Group]]:
    """Return the session's seconds and, per description, what its executions did."""
    executions: dict[int, tuple[str, int]] = {}
    names: dict[int, str] = {}
    file_metrics: dict[int, set[int]] = defaultdict(set)
    files: dict[int, int] = defaultdict(int)
    jobs: dict[int, tuple[str, int]] = {}
    stage_owner: dict[int, str] = {}
    groups: dict[str, Group] = defaultdict(Group)
    first = last = None
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerApplicationStart":
                first = event["Timestamp"]
            elif kind == "SparkListenerApplicationEnd":
                last = event["Timestamp"]
            elif kind == SQL_START:
                execution = int(event["executionId"])
                executions[execution] = (event["description"], int(event["time"]))
                names[execution] = event["description"]
                file_metrics[execution] |= _metric_ids(event["sparkPlanInfo"], WRITTEN_FILES_METRIC)
            elif kind == SQL_PLAN_UPDATE:
                execution = int(event["executionId"])
                file_metrics[execution] |= _metric_ids(event["sparkPlanInfo"], WRITTEN_FILES_METRIC)
            elif kind == DRIVER_ACCUMULATORS:
                execution = int(event["executionId"])
                for accumulator, value in event["accumUpdates"]:
                    if accumulator in file_metrics[execution]:
                        files[execution] += int(value)
            elif kind == SQL_END and int(event["executionId"]) in executions:
                execution = int(event["executionId"])
                name, begin = executions.pop(execution)
                groups[name].seconds.append((int(event["time"]) - begin) / 1000)
                groups[name].files += files.pop(execution, 0)
            elif kind == "SparkListenerJobStart":
                properties = event.get("Properties", {})
                execution = properties.get("spark.sql.execution.id")
                if execution is None:
                    site = properties.get("callSite.short") or "unknown call site"
                    name = f"job: {site}"
                    jobs[event["Job ID"]] = (name, event["Submission Time"])
                else:
                    name = names.get(int(execution), f"execution {execution}")
                groups[name].jobs += 1
                for stage in event.get("Stage IDs", []):
                    stage_owner[stage] = name
            elif kind == "SparkListenerJobEnd" and event["Job ID"] in jobs:
                name, begin = jobs.pop(event["Job ID"])
                groups[name].seconds.append((event["Completion Time"] - begin) / 1000)
            elif kind == "SparkListenerStageCompleted":
                owner = stage_owner.get(event["Stage Info"]["Stage ID"])
                if owner is not None:
                    groups[owner].stages += 1
            elif kind == "SparkListenerTaskEnd":
                owner = stage_owner.get(event["Stage ID"])
                if owner is not None:
                    info = event["Task Info"]
                    groups[owner].tasks += 1
                    groups[owner].task_seconds += (info["Finish Time"] - info["Launch Time"]) / 1000
    session = ((last or 0) - (first or 0)) / 1000
    return session, dict(groups)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event_log", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    session, groups = summarize(args.event_log)
    total = sum(sum(group.seconds) for group in groups.values())
    print(f"session {session:.1f} s, {total:.1f} s inside SQL executions and other jobs")
    print("   wall s count  jobs stages  tasks task s files  description")
    rows = sorted(groups.items(), key=lambda item: -sum(item[1].seconds))
    for name, group in rows[: args.top]:
        print(
            f"{sum(group.seconds):9.2f} {len(group.seconds):5d} {group.jobs:5d} {group.stages:6d}"
            f" {group.tasks:6d} {group.task_seconds:6.1f} {group.files:5d}  {name}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
