"""Parser of the ``ansible.posix.json`` and ``ansible.posix.jsonl`` stdout callbacks.

``json`` prints one document at the end of the run; ``jsonl`` prints one object per event with
``_event`` and ``_timestamp``. Neither carries the playbook file name, per-host durations, the
exit code or a per-result ``ignored`` flag, so the caller supplies the playbook and run id, and
ignored and rescued failures are told apart with the host's stats (see _classify_failures).
Text around the JSON (a retry hint, warnings) does not stop parsing and is kept with the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deploy_manager.netops.sources.model import (
    AnsibleParseError,
    HostResult,
    HostStats,
    ParsedRun,
    assign_failed_outcomes,
    parse_timestamp,
)

_JSONL_RESULT_EVENTS = {
    "v2_runner_on_ok",
    "v2_runner_on_failed",
    "v2_runner_on_unreachable",
    "v2_runner_on_skipped",
}


@dataclass(frozen=True)
class BadLine:
    """A jsonl line that looks like JSON but cannot be parsed, kept for the quarantine."""

    line_number: int
    reason: str
    content: str


def _outcome(result: dict[str, Any]) -> str:
    if result.get("unreachable"):
        return "unreachable"
    if result.get("failed"):
        return "failed"
    if result.get("skipped"):
        return "skipped"
    return "changed" if result.get("changed") else "ok"


def _stats(raw: dict[str, Any]) -> dict[str, HostStats]:
    stats = {}
    for host, counts in raw.items():
        counts = counts or {}
        stats[host] = HostStats(
            ok=int(counts.get("ok", 0)),
            changed=int(counts.get("changed", 0)),
            failures=int(counts.get("failures", 0)),
            dark=int(counts.get("unreachable", 0)),
            skipped=int(counts.get("skipped", 0)),
            rescued=int(counts.get("rescued", 0)),
            ignored=int(counts.get("ignored", 0)),
        )
    return stats


def _classify_failures(run: ParsedRun) -> None:
    """Mark failed results as failed, ignored or rescued from the host's stats.

    A real failure ends a host's play, so the last ``failures`` failed results of a host are
    real. Of the earlier ones the first ``ignored`` are taken as ignored and the rest as
    rescued.
    NOTE: the callbacks do not say which of two earlier failures was ignored and which
    rescued; a host with both kinds in one run may have the two swapped.
    """
    per_host: dict[str, list[HostResult]] = {}
    for result in run.results:
        if result.outcome == "failed":
            per_host.setdefault(result.host, []).append(result)
    real_failures: list[HostResult] = []
    for host, failed in per_host.items():
        stats = (run.stats or {}).get(host)
        if stats is None:
            real_failures.extend(failed)
            continue
        earlier = failed[: max(len(failed) - stats.failures, 0)]
        for index, result in enumerate(earlier):
            result.outcome = "ignored" if index < stats.ignored else "rescued"
        real_failures.extend(failed[len(earlier) :])
    assign_failed_outcomes(run, real_failures)


def _task_result(
    task: dict[str, Any], play: str | None, host: str, result: dict[str, Any], order: int
) -> HostResult:
    duration = task.get("duration") or {}
    return HostResult(
        host=host,
        task_id=str(task.get("id") or task.get("name") or f"task-{order}"),
        outcome=_outcome(result),
        play=play,
        task=task.get("name"),
        task_action=result.get("action"),
        role=None,
        event_counter=order,
        event_created=parse_timestamp(duration.get("end") or duration.get("start")),
        duration_seconds=None,
        result=result,
    )


def parse_json_document(text: str, *, run_id: str, playbook: str, source_path: str) -> ParsedRun:
    """Parse ``json`` callback output: optional text, then one JSON document."""
    start = _document_start(text)
    if start is None:
        raise AnsibleParseError("no JSON document starting with '{' at the start of a line")
    try:
        document, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise AnsibleParseError(f"invalid JSON document: {exc}") from exc
    if not isinstance(document, dict) or "plays" not in document or "stats" not in document:
        raise AnsibleParseError(
            "JSON document has no 'plays' and 'stats': not json callback output"
        )
    around = (text[:start] + text[end:]).strip()
    run = ParsedRun(
        run_id=run_id,
        playbook=playbook,
        source_format="json_callback",
        source_path=source_path,
        preamble=around or None,
    )
    order = 0
    starts: list[datetime] = []
    ends: list[datetime] = []
    for play_entry in document.get("plays") or []:
        play = play_entry.get("play") or {}
        duration = play.get("duration") or {}
        if started := parse_timestamp(duration.get("start")):
            starts.append(started)
        if ended := parse_timestamp(duration.get("end")):
            ends.append(ended)
        for task in play_entry.get("tasks") or []:
            for host, result in (task.get("hosts") or {}).items():
                order += 1
                run.results.append(
                    _task_result(task.get("task") or {}, play.get("name"), host, result, order)
                )
    run.event_count = order + 1  # the results and the stats
    run.stats = _stats(document.get("stats") or {})
    run.started_at = min(starts, default=None)
    run.ended_at = max(ends, default=None)
    run.status = "failed" if any(not s.succeeded for s in run.stats.values()) else "successful"
    _classify_failures(run)
    return run


def parse_jsonl(
    text: str, *, run_id: str, playbook: str, source_path: str
) -> tuple[ParsedRun, list[BadLine]]:
    """Parse ``jsonl`` callback output, one event per line; broken JSON lines are returned
    apart and other text lines are kept as the run's preamble."""
    run = ParsedRun(
        run_id=run_id, playbook=playbook, source_format="jsonl_callback", source_path=source_path
    )
    bad: list[BadLine] = []
    text_lines: list[str] = []
    current_play: str | None = None
    seen: set[tuple[str, str, str]] = set()
    times: list[datetime] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("{"):
            text_lines.append(line)
            continue
        try:
            event = json.loads(stripped)
        except json.JSONDecodeError as exc:
            bad.append(BadLine(number, f"invalid JSON on line {number}: {exc}", line))
            continue
        name = event.get("_event") if isinstance(event, dict) else None
        if not name:
            bad.append(BadLine(number, f"line {number} has no '_event' key", line))
            continue
        run.event_count += 1
        stamp = parse_timestamp(event.get("_timestamp"))
        if stamp:
            times.append(stamp)
        if name == "v2_playbook_on_play_start":
            current_play = (event.get("play") or {}).get("name")
        elif name == "v2_playbook_on_stats":
            run.stats = _stats(event.get("stats") or {})
            run.ended_at = stamp
        elif name in _JSONL_RESULT_EVENTS:
            task = event.get("task") or {}
            for host, result in (event.get("hosts") or {}).items():
                key = (str(task.get("id")), host, _outcome(result))
                if key in seen:
                    run.duplicate_events += 1
                    continue
                seen.add(key)
                result_row = _task_result(task, current_play, host, result, number)
                result_row.event_created = stamp or result_row.event_created
                run.results.append(result_row)
    run.preamble = "\n".join(text_lines) or None
    run.started_at = min(times, default=None)
    if run.ended_at is None:
        run.ended_at = max(times, default=None)
    if run.stats is not None:
        failed = any(not s.succeeded for s in run.stats.values())
        run.status = "failed" if failed else "successful"
    _classify_failures(run)
    return run, bad


def _document_start(text: str) -> int | None:
    if text.startswith("{"):
        return 0
    position = text.find("\n{")
    return None if position < 0 else position + 1
