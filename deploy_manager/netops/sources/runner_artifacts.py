"""Parser of ansible-runner artifact folders (``artifacts/<ident>/``).

A folder holds ``rc``, ``status``, ``stdout`` and ``job_events/<counter>-<uuid>.json``, one
event per file; ``*-partial.json`` files are written while an event is in flight and are not
events. Events are ordered by ``counter``; a repeated ``uuid`` or counter is a duplicate and
is dropped; gaps in the counters are normal (runner omits some events).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy_manager.ingest.files import read_folder
from deploy_manager.ingest.text import decode_bytes
from deploy_manager.netops.sources.model import (
    AnsibleParseError,
    HostResult,
    ParsedRun,
    assign_failed_outcomes,
    parse_timestamp,
    stats_from_counts,
)

# Final per-host results; runner_item_on_* (loop items), runner_retry and runner_on_start are
# folded into the task's final event, so a failed loop counts once.
_FINAL_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
    "runner_on_async_ok": "ok",
    "runner_on_async_failed": "failed",
}
_EVENT_FILE = re.compile(r"^(\d+)-([0-9A-Za-z-]+)\.json$")
_VERSION = re.compile(r"ansible-playbook \[core ([0-9][0-9A-Za-z.+-]*)\]")


@dataclass(frozen=True)
class BadEventFile:
    """An event file that could not be read as an event, kept for the quarantine."""

    path: Path
    reason: str
    content: str


def is_artifact_folder(folder: Path) -> bool:
    return (folder / "job_events").is_dir() or (
        (folder / "status").is_file() and (folder / "rc").is_file()
    )


def _small_text(files: dict[str, bytes], name: str) -> str | None:
    data = files.get(name)
    return None if data is None else decode_bytes(data).strip()


def _read_events(
    folder: Path, files: dict[str, bytes]
) -> tuple[list[dict[str, Any]], list[BadEventFile]]:
    events: list[dict[str, Any]] = []
    bad: list[BadEventFile] = []
    prefix = f"job_events{os.sep}"
    for relative in sorted(name for name in files if name.startswith(prefix)):
        name = relative[len(prefix) :]
        if name.endswith("-partial.json") or os.sep in name:
            continue
        raw = decode_bytes(files[relative])
        if not _EVENT_FILE.match(name):
            bad.append(
                BadEventFile(folder / relative, "file name is not <counter>-<uuid>.json", raw)
            )
            continue
        try:
            event = json.loads(raw)
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON ({exc}): copy the artifact folder again from the runner host"
            bad.append(BadEventFile(folder / relative, reason, raw))
            continue
        if not isinstance(event, dict) or "event" not in event or "counter" not in event:
            bad.append(
                BadEventFile(
                    folder / relative, "JSON object without 'event' and 'counter' keys", raw
                )
            )
            continue
        events.append(event)
    return events, bad


def _dedupe(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    seen_uuids: set[str] = set()
    seen_counters: set[int] = set()
    unique = []
    for event in sorted(events, key=lambda e: int(e["counter"])):
        counter = int(event["counter"])
        uuid = event.get("uuid")
        if counter in seen_counters or (uuid and uuid in seen_uuids):
            continue
        seen_counters.add(counter)
        if uuid:
            seen_uuids.add(uuid)
        unique.append(event)
    return unique, len(events) - len(unique)


def _parse_rc(text: str | None) -> int | None:
    if text is None or text in ("", "None"):
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise AnsibleParseError(
            f"rc file contains {text!r}, which is not an exit code: expected an integer or None"
        ) from exc


def parse_artifact_folder(folder: Path) -> tuple[ParsedRun, list[BadEventFile]]:
    """Parse one artifact folder; event files that cannot be read are returned apart."""
    return parse_artifact_files(folder, read_folder(folder)[1])


def parse_artifact_files(
    folder: Path, files: dict[str, bytes]
) -> tuple[ParsedRun, list[BadEventFile]]:
    """Parse an artifact folder already read into ``files`` (contents by relative path)."""
    status = _small_text(files, "status")
    rc = _parse_rc(_small_text(files, "rc"))
    raw_events, bad = _read_events(folder, files)
    events, duplicates = _dedupe(raw_events)

    playbook = next(
        (
            e["event_data"]["playbook"]
            for e in events
            if (e.get("event_data") or {}).get("playbook")
        ),
        None,
    )
    run = ParsedRun(
        run_id=folder.name,
        playbook=playbook or "unknown",
        source_format="runner_artifacts",
        source_path=str(folder),
        status=status,
        rc=rc,
        event_count=len(events),
        duplicate_events=duplicates,
    )
    stdout = _small_text(files, "stdout")
    if stdout and (match := _VERSION.search(stdout)):
        run.ansible_version = match.group(1)

    failed: list[HostResult] = []
    for event in events:
        created = parse_timestamp(event.get("created"))
        if created is not None:
            run.started_at = created if run.started_at is None else min(run.started_at, created)
        name = event["event"]
        data = event.get("event_data") or {}
        if name == "playbook_on_stats":
            run.stats = stats_from_counts(data)
            run.ended_at = created
            continue
        if name == "runner_on_start" and data.get("host"):
            run.started_hosts.add(data["host"])
        outcome = _FINAL_EVENTS.get(name)
        if outcome is None or not data.get("host"):
            continue
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        if outcome == "ok" and res.get("changed"):
            outcome = "changed"
        if outcome == "failed" and data.get("ignore_errors"):
            outcome = "ignored"
        result = HostResult(
            host=data["host"],
            task_id=data.get("task_uuid") or f"counter-{event['counter']}",
            outcome=outcome,
            play=data.get("play"),
            task=data.get("task"),
            task_action=data.get("task_action"),
            role=data.get("role"),
            event_counter=int(event["counter"]),
            event_created=created,
            duration_seconds=_as_float(data.get("duration")),
            result=res,
        )
        run.results.append(result)
        if outcome == "failed":
            failed.append(result)
    if run.ended_at is None and events:
        run.ended_at = max(
            (t for e in events if (t := parse_timestamp(e.get("created")))), default=None
        )
    assign_failed_outcomes(run, failed)
    return run, bad


def _as_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
