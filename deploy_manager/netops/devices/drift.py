"""Configuration drift: a backup compared with the previous one and with the golden config.

Both comparisons use the normalised configuration (see ``normalise``), so lines that change
without a configuration change never count as drift. A drift against the previous backup
is expected when an Ansible run on the device started inside the deployment window, which
by default runs from the previous backup (exclusive) to this backup (inclusive).
"""

from __future__ import annotations

import bisect
import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from deploy_manager.netops.devices.normalise import NormalisedConfig, normalise_config

# Diffs are cut at a line boundary to at most this many characters. The line counts still
# cover the whole diff.
DEFAULT_MAX_DIFF_CHARS = 16_384


@dataclass(frozen=True)
class ConfigDiff:
    """A unified diff without context lines, cut to a bounded size, with full line counts."""

    lines_added: int
    lines_removed: int
    text: str | None
    truncated: bool


def diff_lines(
    before: Sequence[str],
    after: Sequence[str],
    *,
    before_label: str,
    after_label: str,
    max_chars: int = DEFAULT_MAX_DIFF_CHARS,
) -> ConfigDiff:
    """Diff two normalised configurations. ``text`` is None when they are equal."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    if added == 0 and removed == 0:
        return ConfigDiff(0, 0, None, False)
    kept: list[str] = []
    size = 0
    truncated = False
    diff = difflib.unified_diff(
        list(before), list(after), fromfile=before_label, tofile=after_label, n=0, lineterm=""
    )
    for line in diff:
        if size + len(line) + 1 > max_chars:
            truncated = True
            break
        kept.append(line)
        size += len(line) + 1
    return ConfigDiff(added, removed, "\n".join(kept) + "\n", truncated)


@dataclass(frozen=True)
class Deployment:
    """An Ansible run on one host, from raw.ansible_host_stats and raw.ansible_runs."""

    run_id: str
    host: str
    started_at: datetime
    changed: int


def find_deployment(
    deployments: Sequence[Deployment], start: datetime, end: datetime
) -> Deployment | None:
    """Return the run that best explains a change between ``start`` and ``end``.

    Runs that started after ``start`` and at or before ``end`` qualify. Among them a run
    that reported changed tasks on the host wins over one that did not, and then the
    latest run wins. ``deployments`` must be sorted by ``started_at``.
    """
    times = [d.started_at for d in deployments]
    low = bisect.bisect_right(times, start)
    high = bisect.bisect_right(times, end)
    window = deployments[low:high]
    if not window:
        return None
    return max(window, key=lambda d: (d.changed > 0, d.started_at, d.run_id))


@dataclass
class StoredBackup:
    """A stored backup with the fields drift needs. Normalised lines are computed on first use."""

    device: str
    site_id: str
    role: str | None
    vendor: str
    backup_time: datetime
    raw_sha256: str
    normalised_sha256: str
    content: str

    @functools.cached_property
    def normalised(self) -> NormalisedConfig:
        return normalise_config(self.content, self.vendor)

    @property
    def label(self) -> str:
        return f"{self.device} {self.backup_time.isoformat()}"


@dataclass(frozen=True)
class DriftRecord:
    """One row of raw.config_drift."""

    device: str
    site_id: str
    event_date: date
    backup_time: datetime
    previous_backup_time: datetime | None
    role: str | None
    normalised_sha256: str
    previous_normalised_sha256: str | None
    golden_sha256: str | None
    drift_vs_previous: bool | None
    volatile_only_change: bool
    drift_vs_golden: bool | None
    lines_added: int
    lines_removed: int
    diff: str | None
    diff_truncated: bool
    golden_lines_added: int | None
    golden_lines_removed: int | None
    golden_diff: str | None
    golden_diff_truncated: bool
    expected: bool | None
    deployment_run_id: str | None


def evaluate_drift(
    current: StoredBackup,
    previous: StoredBackup | None,
    golden: NormalisedConfig | None,
    deployments: Sequence[Deployment],
    *,
    deployment_window: timedelta | None = None,
    max_diff_chars: int = DEFAULT_MAX_DIFF_CHARS,
) -> DriftRecord:
    """Compare one backup with the previous backup of its device and with its golden config.

    ``golden`` is the rendered, normalised golden configuration of the device's role, or
    None when there is none. ``deployments`` are the device's runs, sorted by start time.
    ``deployment_window`` None means "since the previous backup". A timedelta means that
    span before the backup.
    """
    drift_vs_previous: bool | None = None
    volatile_only = False
    change = ConfigDiff(0, 0, None, False)
    expected: bool | None = None
    run: Deployment | None = None
    if previous is not None:
        drift_vs_previous = previous.normalised_sha256 != current.normalised_sha256
        volatile_only = not drift_vs_previous and previous.raw_sha256 != current.raw_sha256
        if drift_vs_previous:
            change = diff_lines(
                previous.normalised.lines,
                current.normalised.lines,
                before_label=previous.label,
                after_label=current.label,
                max_chars=max_diff_chars,
            )
            start = (
                previous.backup_time
                if deployment_window is None
                else current.backup_time - deployment_window
            )
            run = find_deployment(deployments, start, current.backup_time)
            expected = run is not None

    drift_vs_golden: bool | None = None
    golden_change: ConfigDiff | None = None
    if golden is not None:
        drift_vs_golden = golden.normalised_sha256 != current.normalised_sha256
        golden_change = ConfigDiff(0, 0, None, False)
        if drift_vs_golden:
            golden_change = diff_lines(
                golden.lines,
                current.normalised.lines,
                before_label=f"golden {current.role}",
                after_label=current.label,
                max_chars=max_diff_chars,
            )

    return DriftRecord(
        device=current.device,
        site_id=current.site_id,
        event_date=current.backup_time.astimezone(UTC).date(),
        backup_time=current.backup_time,
        previous_backup_time=previous.backup_time if previous else None,
        role=current.role,
        normalised_sha256=current.normalised_sha256,
        previous_normalised_sha256=previous.normalised_sha256 if previous else None,
        golden_sha256=golden.normalised_sha256 if golden else None,
        drift_vs_previous=drift_vs_previous,
        volatile_only_change=volatile_only,
        drift_vs_golden=drift_vs_golden,
        lines_added=change.lines_added,
        lines_removed=change.lines_removed,
        diff=change.text,
        diff_truncated=change.truncated,
        golden_lines_added=golden_change.lines_added if golden_change else None,
        golden_lines_removed=golden_change.lines_removed if golden_change else None,
        golden_diff=golden_change.text if golden_change else None,
        golden_diff_truncated=golden_change.truncated if golden_change else False,
        expected=expected,
        deployment_run_id=run.run_id if run else None,
    )
