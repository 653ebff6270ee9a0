"""The parsed form of one Ansible run, shared by every Ansible output format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")


class AnsibleParseError(ValueError):
    """Input that is not Ansible output of the expected format; the message gives the reason."""


@dataclass
class HostResult:
    """The final result of one task on one host (loop items and retries folded in)."""

    host: str
    task_id: str
    outcome: str
    play: str | None
    task: str | None
    task_action: str | None
    role: str | None
    event_counter: int | None
    event_created: datetime | None
    duration_seconds: float | None
    result: dict[str, Any]


@dataclass
class HostStats:
    """One host's line of the run's PLAY RECAP."""

    ok: int = 0
    changed: int = 0
    failures: int = 0
    dark: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    @property
    def succeeded(self) -> bool:
        return self.failures == 0 and self.dark == 0


@dataclass
class ParsedRun:
    """One Ansible run in the form the raw tables store."""

    run_id: str
    playbook: str
    source_format: str
    source_path: str
    status: str | None = None
    rc: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    ansible_version: str | None = None
    event_count: int = 0
    duplicate_events: int = 0
    preamble: str | None = None
    results: list[HostResult] = field(default_factory=list)
    stats: dict[str, HostStats] | None = None
    # Hosts that a task started on. A run that timed out may have no result or stats for them.
    # NOTE: only the ansible-runner parser fills this, so a jsonl run that stopped before any
    # host result has no hosts and no site.
    started_hosts: set[str] = field(default_factory=set)

    @property
    def completeness(self) -> str:
        """Why the run can or cannot be judged: only 'complete' runs count as successes."""
        if self.status in ("timeout", "canceled"):
            return self.status
        if self.event_count == 0:
            return "no_events"
        if self.stats is None:
            return "no_stats"
        return "complete"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def hosts(self) -> set[str]:
        """Every host the run touched: the hosts of its stats, results and started tasks."""
        hosts = {r.host for r in self.results} | self.started_hosts
        if self.stats:
            hosts.update(self.stats)
        return hosts


def parse_timestamp(text: str | None) -> datetime | None:
    """Parse an ISO 8601 time; a time without an offset is UTC (older runners wrote those)."""
    if not text:
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise AnsibleParseError(f"time {text!r} is not ISO 8601") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def stats_from_counts(counts: dict[str, dict[str, int]]) -> dict[str, HostStats]:
    """Build per-host stats from Ansible's ``{stat: {host: count}}`` form; a missing key is 0.

    ``processed`` lists every host, including those whose every count is zero.
    """
    hosts: set[str] = set(counts.get("processed") or {})
    for key in STAT_KEYS:
        hosts.update(counts.get(key) or {})
    stats = {}
    for host in hosts:
        values = {key: int((counts.get(key) or {}).get(host, 0) or 0) for key in STAT_KEYS}
        stats[host] = HostStats(**values)
    return stats


def assign_failed_outcomes(run: ParsedRun, failed: list[HostResult]) -> None:
    """Split a host's non-ignored failed results into 'failed' and 'rescued' using its stats.

    No event says that a block's rescue ran, but a real failure ends the host's play, so the
    last ``failures`` failed results of a host are real and the earlier ones were rescued.
    Without stats every failed result stays 'failed'.
    """
    by_host: dict[str, list[HostResult]] = {}
    for result in failed:
        by_host.setdefault(result.host, []).append(result)
    for host, results in by_host.items():
        stats = (run.stats or {}).get(host)
        real = len(results) if stats is None else min(stats.failures, len(results))
        for index, result in enumerate(results):
            result.outcome = "failed" if index >= len(results) - real else "rescued"
