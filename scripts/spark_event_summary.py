"""Summarize a Spark event log: where the jobs of a session spent their time.

Spark writes the log when ``DM_SPARK_EVENT_LOG_DIR`` is set (one file per session). This
prints the jobs grouped by the call site that started them, with
their count and total seconds, and the share of the session they cover.

Usage: ``.venv/bin/python scripts/spark_event_summary.py EVENT_LOG_FILE [--top 25]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def summarize(path: Path) -> tuple[float, dict[str, list[float]]]:
    """Return the session's seconds and, per call site, the seconds of each of its jobs."""
    started: dict[int, tuple[str, int]] = {}
    by_site: dict[str, list[float]] = defaultdict(list)
    first = last = None
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            kind = event["Event"]
            stamp = event.get("Timestamp") or event.get("Submission Time")
            stamp = stamp or event.get("Completion Time")
            if stamp:
                first = stamp if first is None else min(first, stamp)
                last = stamp if last is None else max(last, stamp)
            if kind == "SparkListenerJobStart":
                properties = event.get("Properties", {})
                site = properties.get("callSite.short") or "unknown call site"
                started[event["Job ID"]] = (site, event["Submission Time"])
            elif kind == "SparkListenerJobEnd" and event["Job ID"] in started:
                site, begin = started.pop(event["Job ID"])
                by_site[site].append((event["Completion Time"] - begin) / 1000)
    session = ((last or 0) - (first or 0)) / 1000
    return session, by_site


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event_log", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    session, by_site = summarize(args.event_log)
    total = sum(sum(times) for times in by_site.values())
    jobs = sum(len(times) for times in by_site.values())
    print(f"session {session:.1f} s, {jobs} jobs, {total:.1f} s inside jobs")
    rows = sorted(by_site.items(), key=lambda item: -sum(item[1]))
    for site, times in rows[: args.top]:
        print(f"{sum(times):8.2f} s {len(times):5d} jobs  {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
