"""Summarize a Spark event log: where the Spark work of a session spent its time.

Spark writes the log when ``DM_SPARK_EVENT_LOG_DIR`` is set, one file per session. This
prints the session's length, then the SQL executions grouped by their description (the
action and where it was called, such as ``insertInto`` or ``collect at warehouse.py``),
with their count and total wall seconds. Jobs outside any SQL execution are grouped by
their call site.

Usage: ``.venv/bin/python scripts/spark_event_summary.py EVENT_LOG_FILE [--top 25]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"


def summarize(path: Path) -> tuple[float, dict[str, list[float]]]:
    """Return the session's seconds and, per description, the seconds of each execution."""
    executions: dict[str, tuple[str, int]] = {}
    jobs: dict[int, tuple[str, int]] = {}
    by_name: dict[str, list[float]] = defaultdict(list)
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
                executions[str(event["executionId"])] = (event["description"], int(event["time"]))
            elif kind == SQL_END and str(event["executionId"]) in executions:
                name, begin = executions.pop(str(event["executionId"]))
                by_name[name].append((int(event["time"]) - begin) / 1000)
            elif kind == "SparkListenerJobStart":
                properties = event.get("Properties", {})
                if properties.get("spark.sql.execution.id") is None:
                    site = properties.get("callSite.short") or "unknown call site"
                    jobs[event["Job ID"]] = (f"job: {site}", event["Submission Time"])
            elif kind == "SparkListenerJobEnd" and event["Job ID"] in jobs:
                name, begin = jobs.pop(event["Job ID"])
                by_name[name].append((event["Completion Time"] - begin) / 1000)
    session = ((last or 0) - (first or 0)) / 1000
    return session, by_name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event_log", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    session, by_name = summarize(args.event_log)
    total = sum(sum(times) for times in by_name.values())
    print(f"session {session:.1f} s, {total:.1f} s inside SQL executions and other jobs")
    rows = sorted(by_name.items(), key=lambda item: -sum(item[1]))
    for name, times in rows[: args.top]:
        print(f"{sum(times):8.2f} s {len(times):5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
