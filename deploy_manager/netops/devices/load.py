"""Loads of device metrics, configuration backups and configuration drift into PostgreSQL.

Every load is idempotent: rows are keyed by (device, sample_time) or (device, backup_time),
and a second ingest of the same input changes no row. A changed metrics file replaces the
rows it stored earlier. Rows are staged with COPY into a temporary table and moved into the
raw table by one ``INSERT ... SELECT ... ON CONFLICT`` statement. Input that cannot be
placed goes to raw.quarantine with its file and line number (or commit), and the rest is
still loaded.
Each metrics file, and each backup source with its drift, is loaded in one transaction.

``ingest_device_landing`` reads this layout (paths relative to the landing folder):

- ``devices/metrics/**``: monitor exports, ``*.jsonl``, ``*.ndjson``, ``*.json`` or
  ``*.csv``, each optionally gzipped (see ``metrics``). Records without ``counter_kind``
  are cumulative counters.
- ``devices/backups/``: a tree of collection folders or a git repository of backups (see
  ``config_backups``).
- ``devices/golden/``: golden configurations ``<role>.cfg`` and the ``roles.csv`` that
  gives each device its role. Without this folder backups get no role and no golden
  comparison.

Device sites come from the snapshots in ``inventory/`` and deployments from the Ansible
runs in ``ansible/``, so ingest those first (``netops.load.ingest_landing``).
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from deploy_manager.ingest.files import already_ingested, folder_sha256, record_ingested
from deploy_manager.ingest.quarantine import (
    QuarantinedRecord,
    invalid_utf8_records,
    sync_quarantine,
    write_quarantine,
)
from deploy_manager.ingest.text import decode_bytes, encoding_error
from deploy_manager.netops.devices.config_backups import (
    BackupFile,
    RejectedBackup,
    RoleMap,
    load_golden_configs,
    load_role_map,
    read_backups,
    render_golden,
)
from deploy_manager.netops.devices.drift import (
    DEFAULT_MAX_DIFF_CHARS,
    Deployment,
    DriftRecord,
    StoredBackup,
    evaluate_drift,
)
from deploy_manager.netops.devices.metrics import (
    CUMULATIVE,
    MetricSample,
    RejectedLine,
    metrics_format,
    read_metrics_file,
)
from deploy_manager.netops.devices.normalise import NormalisedConfig, normalise_config
from deploy_manager.partitions import InvalidSiteIdError, validate_site_id

log = logging.getLogger(__name__)

METRICS_KIND = "device_metrics"
BACKUP_KIND = "config_backup"

# Backups are staged in batches, so memory contains one batch of configurations at a time.
_BACKUP_BATCH = 1_000

METRICS_COLUMNS = (
    "device",
    "site_id",
    "sample_time",
    "event_date",
    "cpu_pct",
    "mem_pct",
    "if_in_errors",
    "if_out_errors",
    "if_in_discards",
    "if_out_discards",
    "counter_kind",
    "reachable",
    "rtt_ms",
    "packet_loss_pct",
    "quality_flags",
    "source_format",
    "source_path",
    "line",
)
BACKUP_COLUMNS = (
    "device",
    "site_id",
    "role",
    "vendor",
    "backup_time",
    "event_date",
    "raw_sha256",
    "normalised_sha256",
    "removed_line_count",
    "removed_patterns",
    "source",
    "source_root",
    "source_path",
    "source_commit",
    "content",
)
# A re-ingested backup with the same content may still get a new site, role or
# normalisation (after an inventory fix, a roles change or new volatile patterns).
BACKUP_DERIVED_COLUMNS = (
    "site_id",
    "event_date",
    "role",
    "vendor",
    "normalised_sha256",
    "removed_line_count",
    "removed_patterns",
)
DRIFT_COLUMNS = (
    "device",
    "site_id",
    "event_date",
    "backup_time",
    "previous_backup_time",
    "role",
    "normalised_sha256",
    "previous_normalised_sha256",
    "golden_sha256",
    "drift_vs_previous",
    "volatile_only_change",
    "drift_vs_golden",
    "lines_added",
    "lines_removed",
    "diff",
    "diff_truncated",
    "golden_lines_added",
    "golden_lines_removed",
    "golden_diff",
    "golden_diff_truncated",
    "expected",
    "deployment_run_id",
)


@dataclass
class MetricsIngestSummary:
    """Counts of one metrics ingest.

    ``rows_inserted`` excludes samples already stored. ``rejected`` counts the lines sent to
    the quarantine, and ``quarantined`` only those the quarantine did not have yet.
    """

    files: int = 0
    samples_read: int = 0
    rows_inserted: int = 0
    duplicates_skipped: int = 0
    rejected: int = 0
    quarantined: int = 0


@dataclass
class DriftRefreshSummary:
    """Counts of one drift computation. ``rows_written`` counts new or changed rows."""

    devices: int = 0
    backups_evaluated: int = 0
    rows_written: int = 0
    roles_without_golden: list[str] = field(default_factory=list)


@dataclass
class BackupIngestSummary:
    """Counts of one backup ingest and of the drift computed after it.

    ``rejected`` counts the backups sent to the quarantine, and ``quarantined`` only those
    the quarantine did not have yet.
    """

    backups_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    duplicates_skipped: int = 0
    rejected: int = 0
    quarantined: int = 0
    drift: DriftRefreshSummary = field(default_factory=DriftRefreshSummary)


class InventorySites:
    """Site of a host at a time: the newest raw.inventory snapshot at or before that time."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._snapshots: dict[str, tuple[list[datetime], list[str]]] = {}

    def load(self, hosts: Iterable[str]) -> None:
        missing = sorted(set(hosts) - self._snapshots.keys())
        if not missing:
            return
        for host in missing:
            self._snapshots[host] = ([], [])
        rows = self._conn.execute(
            "SELECT host, valid_from, site_id FROM raw.inventory"
            " WHERE host = ANY(%s) ORDER BY host, valid_from",
            (missing,),
        )
        for host, valid_from, site_id in rows:
            times, sites = self._snapshots[host]
            times.append(valid_from)
            sites.append(site_id)

    def site_at(self, host: str, when: datetime) -> str:
        """Return the host's site at ``when``, or raise LookupError or InvalidSiteIdError."""
        if host not in self._snapshots:
            self.load([host])
        times, sites = self._snapshots[host]
        index = bisect.bisect_right(times, when) - 1
        if not times:
            raise LookupError(
                f"device {host!r} is in no inventory snapshot: add it to the Ansible "
                "inventory (a site_<ID> group or a site_id variable), ingest the inventory, "
                "then ingest this file again"
            )
        if index < 0:
            raise LookupError(
                f"device {host!r} has no inventory snapshot at or before "
                f"{when.isoformat()} (the first is from {times[0].isoformat()}): ingest an "
                "older inventory snapshot that lists it, then ingest this file again"
            )
        return validate_site_id(sites[index])


def _copy_rows(
    conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _create_stage(conn: psycopg.Connection, stage: str, target: str) -> None:
    """Create (or empty) a temporary table shaped like ``raw.<target>``.

    The caller may hold an outer transaction, so the table may survive from an earlier
    load in the same session: it is emptied rather than recreated.
    """
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)").format(
            sql.Identifier(stage), sql.Identifier("raw", target)
        )
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))


def _record_ingested(
    conn: psycopg.Connection,
    source_path: str,
    sha256: str,
    source_kind: str,
    record_count: int,
    quarantined: int,
) -> None:
    conn.execute(
        "INSERT INTO raw.ingested_files"
        " (source_path, sha256, source_kind, record_count, quarantined)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (source_path, sha256) DO UPDATE SET"
        " record_count = EXCLUDED.record_count, quarantined = EXCLUDED.quarantined"
        " WHERE (raw.ingested_files.record_count, raw.ingested_files.quarantined)"
        " IS DISTINCT FROM (EXCLUDED.record_count, EXCLUDED.quarantined)",
        (source_path, sha256, source_kind, record_count, quarantined),
    )


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


# Device metrics.


def metrics_files(path: Path) -> list[Path]:
    """Return ``path`` itself, or the metrics files below a folder in name order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(
            f"metrics path {str(path)!r} does not exist: pass a metrics file or a folder of them"
        )
    return sorted(p for p in path.rglob("*") if p.is_file() and metrics_format(p) is not None)


def ingest_device_metrics(
    conn: psycopg.Connection,
    path: Path | str,
    *,
    counter_kind: str = CUMULATIVE,
    landing: Path | None = None,
) -> MetricsIngestSummary:
    """Load a metrics file, or every metrics file below a folder, into raw.device_metrics.

    ``counter_kind`` (``cumulative`` or ``per_second``) applies to records that do not
    name their own. A file's rows are replaced whole when it is loaded again, so a corrected
    export takes effect. A sample whose device and time another file already stored is
    skipped, even when its values differ: the first file wins. Files are named by their
    path relative to ``landing``, or by their absolute path without it.
    """
    summary = MetricsIngestSummary()
    for file in metrics_files(Path(path)):
        source_path = str(file.resolve().relative_to(landing)) if landing else str(file.resolve())
        with conn.transaction():
            _ingest_metrics_file(conn, file, source_path, counter_kind, summary)
        summary.files += 1
    log.info(
        "device metrics: %d files, %d samples read, %d rows inserted, %d duplicates skipped, "
        "%d quarantined",
        summary.files,
        summary.samples_read,
        summary.rows_inserted,
        summary.duplicates_skipped,
        summary.quarantined,
    )
    return summary


def _ingest_metrics_file(
    conn: psycopg.Connection,
    path: Path,
    source_path: str,
    counter_kind: str,
    summary: MetricsIngestSummary,
) -> None:
    data = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else None
    data = path.read_bytes() if data is None else data
    problem = encoding_error(data)
    if problem is not None:
        record = QuarantinedRecord(METRICS_KIND, source_path, "file", problem, decode_bytes(data))
        _replace_metrics(conn, source_path, path, [], [record], summary)
        return
    rejected = invalid_utf8_records(METRICS_KIND, source_path, {"": data})
    samples: list[MetricSample] = []
    for item in read_metrics_file(path, counter_kind=counter_kind):
        if isinstance(item, RejectedLine):
            rejected.append(_metrics_quarantine(source_path, item.line, item.reason, item.content))
        else:
            samples.append(item)
    summary.samples_read += len(samples)

    sites = InventorySites(conn)
    sites.load(s.device for s in samples)
    rows: list[tuple[Any, ...]] = []
    first_line: dict[tuple[str, datetime], MetricSample] = {}
    for sample in samples:
        key = (sample.device, sample.sample_time)
        earlier = first_line.get(key)
        if earlier is not None:
            if earlier == _with_line(sample, earlier):
                summary.duplicates_skipped += 1
            else:
                rejected.append(
                    _metrics_quarantine(
                        source_path,
                        sample.line,
                        f"device {sample.device!r} has a second sample at "
                        f"{sample.sample_time.isoformat()} with other values (first on line "
                        f"{earlier.line}): export each sample once",
                        sample.content,
                    )
                )
            continue
        first_line[key] = sample
        try:
            site_id = sites.site_at(sample.device, sample.sample_time)
        except (LookupError, InvalidSiteIdError) as exc:
            rejected.append(_metrics_quarantine(source_path, sample.line, str(exc), sample.content))
            continue
        rows.append(_metrics_row(sample, site_id, source_path))

    _replace_metrics(conn, source_path, path, rows, rejected, summary)
    log.info(
        "%s: %d samples, %d rows, %d quarantined",
        source_path,
        len(samples),
        len(rows),
        len(rejected),
    )


def _replace_metrics(
    conn: psycopg.Connection,
    source_path: str,
    path: Path,
    rows: list[tuple[Any, ...]],
    rejected: list[QuarantinedRecord],
    summary: MetricsIngestSummary,
) -> None:
    """Replace the rows and quarantine records of one metrics file, and record it ingested.

    Unchanged rows are left as they are, so loading a file twice changes nothing. Rows stored
    under the file's absolute path, as earlier versions named files, are replaced too.
    """
    own_paths = [source_path, str(path.resolve())]
    _create_stage(conn, "device_metrics_stage", "device_metrics")
    _copy_rows(conn, "device_metrics_stage", METRICS_COLUMNS, rows)
    conn.execute(
        "DELETE FROM raw.device_metrics m WHERE m.source_path = ANY(%s) AND NOT EXISTS"
        " (SELECT 1 FROM device_metrics_stage s"
        "  WHERE s.device = m.device AND s.sample_time = m.sample_time)",
        (own_paths,),
    )
    columns = sql.SQL(", ").join(map(sql.Identifier, METRICS_COLUMNS))
    current = sql.SQL(", ").join(sql.Identifier("m", c) for c in METRICS_COLUMNS)
    excluded = sql.SQL(", ").join(sql.Identifier("excluded", c) for c in METRICS_COLUMNS)
    inserted = conn.execute(
        sql.SQL(
            "INSERT INTO raw.device_metrics AS m ({cols}) SELECT {cols} FROM device_metrics_stage"
            " ON CONFLICT (device, sample_time) DO UPDATE SET ({cols}, ingested_at) ="
            " ({excluded}, now())"
            " WHERE m.source_path = ANY(%s) AND ({current}) IS DISTINCT FROM ({excluded})"
        ).format(cols=columns, current=current, excluded=excluded),
        (own_paths,),
    ).rowcount
    summary.rows_inserted += inserted
    summary.rejected += len(rejected)
    summary.quarantined += sync_quarantine(conn, source_path, (METRICS_KIND,), rejected)
    _record_ingested(conn, source_path, _file_sha256(path), METRICS_KIND, len(rows), len(rejected))


def _with_line(sample: MetricSample, other: MetricSample) -> MetricSample:
    """Return ``sample`` with the line of ``other``, so equality compares values only."""
    return MetricSample(**{**sample.__dict__, "line": other.line})


def _metrics_quarantine(
    source_path: str, line: int, reason: str, content: str
) -> QuarantinedRecord:
    return QuarantinedRecord(METRICS_KIND, source_path, f"line {line}", reason, content)


def _metrics_row(sample: MetricSample, site_id: str, source_path: str) -> tuple[Any, ...]:
    return (
        sample.device,
        site_id,
        sample.sample_time,
        _utc_date(sample.sample_time),
        sample.cpu_pct,
        sample.mem_pct,
        sample.if_in_errors,
        sample.if_out_errors,
        sample.if_in_discards,
        sample.if_out_discards,
        sample.counter_kind,
        sample.reachable,
        sample.rtt_ms,
        sample.packet_loss_pct,
        list(sample.quality_flags),
        sample.source_format,
        source_path,
        sample.line,
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Configuration backups.


def ingest_config_backups(
    conn: psycopg.Connection,
    folder_or_repo: Path | str,
    golden_dir: Path | str | None,
    *,
    roles_file: Path | str | None = None,
    layout: str = "auto",
    deployment_window: timedelta | None = None,
    max_diff_chars: int = DEFAULT_MAX_DIFF_CHARS,
    landing: Path | None = None,
) -> BackupIngestSummary:
    """Load configuration backups into raw.config_backups, then refresh their drift.

    ``folder_or_repo`` is a tree of collection folders or a git repository, and ``layout``
    ``auto`` detects which. Roles come from ``roles_file`` or
    ``<golden_dir>/roles.csv``. Drift is recomputed for every device in the input, from
    the input's oldest backup on, so a second ingest after the Ansible runs were loaded
    updates the ``expected`` flags. The backups and the drift are written in one
    transaction. Quarantine rows name files relative to ``landing`` when it is given, and
    the rows of backups since fixed or removed are deleted.
    """
    source = Path(folder_or_repo)
    golden_path = Path(golden_dir) if golden_dir is not None else None
    roles = load_role_map(golden_path, Path(roles_file) if roles_file is not None else None)
    goldens = load_golden_configs(golden_path)
    summary = BackupIngestSummary()
    quarantine = _BackupQuarantine(conn, source, landing)
    with conn.transaction():
        since, fingerprint = _stage_backups(
            conn, read_backups(source, layout), roles, summary, quarantine
        )
        _move_staged_backups(conn, summary, quarantine)
        quarantine.delete_stale()
        _record_ingested(
            conn,
            str(source.resolve()),
            fingerprint,
            BACKUP_KIND,
            summary.backups_read,
            summary.rejected,
        )
        if since:
            summary.drift = compute_config_drift(
                conn,
                goldens,
                devices=sorted(since),
                since=min(since.values()),
                deployment_window=deployment_window,
                max_diff_chars=max_diff_chars,
            )
    log.info(
        "config backups from %s: %d read, %d inserted, %d updated, %d quarantined, "
        "%d drift rows written",
        source,
        summary.backups_read,
        summary.rows_inserted,
        summary.rows_updated,
        summary.quarantined,
        summary.drift.rows_written,
    )
    return summary


class _BackupQuarantine:
    """The quarantine rows of one backup source, named relative to the landing folder."""

    def __init__(self, conn: psycopg.Connection, source: Path, landing: Path | None) -> None:
        self._conn = conn
        self._landing = landing.resolve() if landing is not None else None
        # Rows of earlier ingests may name files by absolute path.
        self._prefixes = sorted({str(source.resolve()), self._name(str(source.resolve()))})
        self._current: set[tuple[str, str, str]] = set()

    def _name(self, path: str) -> str:
        if self._landing is None:
            return path
        root = f"{self._landing}{os.sep}"
        return path[len(root) :] if path.startswith(root) else path

    def write(self, records: list[QuarantinedRecord]) -> int:
        """Insert ``records`` and return the number of new rows."""
        named = [
            QuarantinedRecord(
                r.source_kind, self._name(r.source_path), r.location, r.reason, r.content
            )
            for r in records
        ]
        for record in named:
            digest = hashlib.sha256((record.content or "").encode("utf-8", "replace")).hexdigest()
            self._current.add((record.source_path, record.location, digest))
        return write_quarantine(self._conn, named)

    def delete_stale(self) -> None:
        """Delete this source's rows that the last read no longer rejected."""
        rows = self._conn.execute(
            "SELECT id, source_path, location, content_sha256 FROM raw.quarantine"
            " WHERE source_kind = %s AND EXISTS (SELECT 1 FROM unnest(%s::text[]) AS p(prefix)"
            "  WHERE left(source_path, length(p.prefix)) = p.prefix)",
            (BACKUP_KIND, self._prefixes),
        ).fetchall()
        stale = [row[0] for row in rows if tuple(row[1:]) not in self._current]
        if stale:
            self._conn.execute("DELETE FROM raw.quarantine WHERE id = ANY(%s)", (stale,))


def _stage_backups(
    conn: psycopg.Connection,
    items: Iterator[BackupFile | RejectedBackup],
    roles: RoleMap,
    summary: BackupIngestSummary,
    quarantine: _BackupQuarantine,
) -> tuple[dict[str, datetime], str]:
    """Copy the readable backups into the stage table and quarantine the others.

    Returns the oldest backup time per device and a fingerprint of the input.
    """
    _create_stage(conn, "config_backups_stage", "config_backups")
    sites = InventorySites(conn)
    first_seen: dict[tuple[str, datetime], tuple[str, str]] = {}
    oldest: dict[str, datetime] = {}
    fingerprint = hashlib.sha256()
    for batch in _batches(items, _BACKUP_BATCH):
        sites.load(b.device for b in batch if isinstance(b, BackupFile))
        rows: list[tuple[Any, ...]] = []
        rejected: list[QuarantinedRecord] = []
        for item in batch:
            if isinstance(item, RejectedBackup):
                rejected.append(_backup_quarantine(item))
                continue
            summary.backups_read += 1
            row = _backup_row(item, sites, roles, first_seen, summary)
            if isinstance(row, RejectedBackup):
                rejected.append(_backup_quarantine(row))
                continue
            if row is None:
                continue
            fingerprint.update(f"{item.source_path}\0{item.source_commit}\0{row[6]}\n".encode())
            oldest[item.device] = min(oldest.get(item.device, item.backup_time), item.backup_time)
            rows.append(row)
        _copy_rows(conn, "config_backups_stage", BACKUP_COLUMNS, rows)
        summary.rejected += len(rejected)
        summary.quarantined += quarantine.write(rejected)
    return oldest, fingerprint.hexdigest()


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    # itertools.batched arrived in Python 3.12; the project runs on 3.11.
    while batch := list(itertools.islice(items, size)):
        yield batch


def _backup_row(
    item: BackupFile,
    sites: InventorySites,
    roles: RoleMap,
    first_seen: dict[tuple[str, datetime], tuple[str, str]],
    summary: BackupIngestSummary,
) -> tuple[Any, ...] | RejectedBackup | None:
    """Build the stage row of one backup, or the reason it is rejected, or None for a copy."""
    location = f"commit {item.source_commit}" if item.source_commit else "file"
    source_path = (
        f"{item.source_root}:{item.source_path}" if item.source_commit else item.source_path
    )
    try:
        site_id = sites.site_at(item.device, item.backup_time)
    except (LookupError, InvalidSiteIdError) as exc:
        return RejectedBackup(source_path, location, str(exc), item.content)
    normalised = normalise_config(item.content)
    key = (item.device, item.backup_time)
    earlier = first_seen.get(key)
    if earlier is not None:
        if earlier[0] == normalised.raw_sha256:
            summary.duplicates_skipped += 1
            return None
        return RejectedBackup(
            source_path,
            location,
            f"device {item.device!r} has another backup at {item.backup_time.isoformat()} "
            f"with different content ({earlier[1]!r}): keep one backup per device and time",
            item.content,
        )
    first_seen[key] = (normalised.raw_sha256, source_path)
    return (
        item.device,
        site_id,
        roles.role_for(item.device),
        normalised.vendor,
        item.backup_time,
        _utc_date(item.backup_time),
        normalised.raw_sha256,
        normalised.normalised_sha256,
        normalised.removed_line_count,
        Jsonb(normalised.removed_patterns),
        item.source,
        item.source_root,
        item.source_path,
        item.source_commit,
        item.content,
    )


def _backup_quarantine(item: RejectedBackup) -> QuarantinedRecord:
    return QuarantinedRecord(
        BACKUP_KIND, item.source_path, item.location, item.reason, item.content
    )


def _move_staged_backups(
    conn: psycopg.Connection, summary: BackupIngestSummary, quarantine: _BackupQuarantine
) -> None:
    """Insert staged backups, refresh derived columns of stored ones, quarantine conflicts.

    A staged backup whose device and time are stored with different content is a
    conflict: the stored one stays and the staged one goes to the quarantine.
    """
    conflicts = conn.execute(
        "SELECT s.source_root, s.source_path, s.source_commit, s.device, s.backup_time,"
        " s.content, b.source_path"
        " FROM config_backups_stage s JOIN raw.config_backups b"
        " ON b.device = s.device AND b.backup_time = s.backup_time"
        " AND b.raw_sha256 <> s.raw_sha256"
        " ORDER BY s.device, s.backup_time"
    ).fetchall()
    rejected = [
        QuarantinedRecord(
            BACKUP_KIND,
            f"{root}:{path}" if commit else path,
            f"commit {commit}" if commit else "file",
            f"device {device!r} already has a backup at {when.isoformat()} with different "
            f"content (from {stored_path!r}): keep one backup per device and time",
            content,
        )
        for root, path, commit, device, when, content, stored_path in conflicts
    ]
    summary.rejected += len(rejected)
    summary.quarantined += quarantine.write(rejected)

    columns = sql.SQL(", ").join(map(sql.Identifier, BACKUP_COLUMNS))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in BACKUP_DERIVED_COLUMNS
    )
    stored = sql.SQL(", ").join(sql.Identifier("config_backups", c) for c in BACKUP_DERIVED_COLUMNS)
    incoming = sql.SQL(", ").join(sql.Identifier("excluded", c) for c in BACKUP_DERIVED_COLUMNS)
    statement = sql.SQL(
        "INSERT INTO raw.config_backups AS config_backups ({cols})"
        " SELECT {cols} FROM config_backups_stage s WHERE NOT EXISTS ("
        "  SELECT 1 FROM raw.config_backups b WHERE b.device = s.device"
        "  AND b.backup_time = s.backup_time AND b.raw_sha256 <> s.raw_sha256)"
        " ORDER BY device, backup_time"
        " ON CONFLICT (device, backup_time) DO UPDATE SET {updates}"
        " WHERE ROW({stored}) IS DISTINCT FROM ROW({incoming})"
        " RETURNING (xmax = 0)"
    ).format(cols=columns, updates=updates, stored=stored, incoming=incoming)
    for (inserted,) in conn.execute(statement).fetchall():
        if inserted:
            summary.rows_inserted += 1
        else:
            summary.rows_updated += 1


# Configuration drift.


def refresh_config_drift(
    conn: psycopg.Connection,
    golden_dir: Path | str | None,
    *,
    devices: Sequence[str] | None = None,
    since: datetime | None = None,
    deployment_window: timedelta | None = None,
    max_diff_chars: int = DEFAULT_MAX_DIFF_CHARS,
) -> DriftRefreshSummary:
    """Recompute raw.config_drift from the stored backups, in one transaction.

    Call it after the golden configurations changed or Ansible runs arrived late.
    ``devices`` None means every device with a backup. ``since`` limits the work to
    backups taken at or after that time (each still compared with its previous backup).
    """
    goldens = load_golden_configs(Path(golden_dir) if golden_dir is not None else None)
    with conn.transaction():
        return compute_config_drift(
            conn,
            goldens,
            devices=devices,
            since=since,
            deployment_window=deployment_window,
            max_diff_chars=max_diff_chars,
        )


def compute_config_drift(
    conn: psycopg.Connection,
    goldens: dict[str, str],
    *,
    devices: Sequence[str] | None = None,
    since: datetime | None = None,
    deployment_window: timedelta | None = None,
    max_diff_chars: int = DEFAULT_MAX_DIFF_CHARS,
) -> DriftRefreshSummary:
    """Compute the drift rows of stored backups and upsert them into raw.config_drift.

    ``goldens`` maps a role to its golden template. A row whose values did not change is
    left as it is, so running this twice writes nothing the second time. It runs in the
    caller's transaction.
    """
    if devices is None:
        devices = [r[0] for r in conn.execute("SELECT DISTINCT device FROM raw.config_backups")]
    devices = sorted(set(devices))
    summary = DriftRefreshSummary(devices=len(devices))
    if not devices:
        return summary
    deployments = _load_deployments(conn, devices)
    golden_cache: dict[tuple[str, str, str], NormalisedConfig | None] = {}
    missing_roles: set[str] = set()

    def golden_for(backup: StoredBackup) -> NormalisedConfig | None:
        if backup.role is None:
            return None
        key = (backup.role, backup.device, backup.site_id)
        if key not in golden_cache:
            template = goldens.get(backup.role)
            if template is None:
                missing_roles.add(backup.role)
                golden_cache[key] = None
            else:
                rendered = render_golden(template, backup.device, backup.site_id)
                golden_cache[key] = normalise_config(rendered)
        return golden_cache[key]

    records: list[DriftRecord] = []
    for device, backups in itertools.groupby(
        _stored_backups(conn, devices, since), key=lambda b: b.device
    ):
        previous: StoredBackup | None = None
        for backup in backups:
            if since is None or backup.backup_time >= since:
                records.append(
                    evaluate_drift(
                        backup,
                        previous,
                        golden_for(backup),
                        deployments.get(device, []),
                        deployment_window=deployment_window,
                        max_diff_chars=max_diff_chars,
                    )
                )
            previous = backup
    summary.backups_evaluated = len(records)
    summary.rows_written = _upsert_drift(conn, records)
    summary.roles_without_golden = sorted(missing_roles)
    if missing_roles:
        log.warning(
            "roles without a golden configuration, so no golden comparison: %s",
            ", ".join(summary.roles_without_golden),
        )
    log.info(
        "config drift: %d devices, %d backups evaluated, %d rows written",
        summary.devices,
        summary.backups_evaluated,
        summary.rows_written,
    )
    return summary


def _load_deployments(
    conn: psycopg.Connection, devices: Sequence[str]
) -> dict[str, list[Deployment]]:
    rows = conn.execute(
        "SELECT s.host, s.run_id, r.started_at, s.changed"
        " FROM raw.ansible_host_stats s JOIN raw.ansible_runs r ON r.run_id = s.run_id"
        " WHERE r.started_at IS NOT NULL AND s.host = ANY(%s)"
        " ORDER BY s.host, r.started_at, s.run_id",
        (list(devices),),
    )
    deployments: dict[str, list[Deployment]] = {}
    for host, run_id, started_at, changed in rows:
        deployments.setdefault(host, []).append(Deployment(run_id, host, started_at, changed))
    return deployments


def _stored_backups(
    conn: psycopg.Connection, devices: Sequence[str], since: datetime | None
) -> Iterator[StoredBackup]:
    """Stream the backups of ``devices`` in (device, time) order.

    With ``since``, each device's stream starts at its last backup before ``since``, which
    serves only as the previous backup of the first one evaluated.
    """
    query = (
        "SELECT device, site_id, role, vendor, backup_time, raw_sha256, normalised_sha256,"
        " content FROM raw.config_backups b WHERE device = ANY(%(devices)s)"
        " AND (%(since)s::timestamptz IS NULL OR backup_time >= coalesce(("
        "  SELECT max(p.backup_time) FROM raw.config_backups p"
        "  WHERE p.device = b.device AND p.backup_time < %(since)s), %(since)s))"
        " ORDER BY device, backup_time"
    )
    with conn.cursor(name="config_backups_for_drift") as cur:
        cur.itersize = 500
        cur.execute(query, {"devices": list(devices), "since": since})
        for row in cur:
            yield StoredBackup(*row)


def _upsert_drift(conn: psycopg.Connection, records: Sequence[DriftRecord]) -> int:
    """Write the drift rows that are new or changed, and return how many were written."""
    if not records:
        return 0
    _create_stage(conn, "config_drift_stage", "config_drift")
    _copy_rows(
        conn,
        "config_drift_stage",
        DRIFT_COLUMNS,
        ([getattr(r, c) for c in DRIFT_COLUMNS] for r in records),
    )
    value_columns = [c for c in DRIFT_COLUMNS if c not in ("device", "backup_time")]
    columns = sql.SQL(", ").join(map(sql.Identifier, DRIFT_COLUMNS))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in value_columns
    )
    stored = sql.SQL(", ").join(sql.Identifier("config_drift", c) for c in value_columns)
    incoming = sql.SQL(", ").join(sql.Identifier("excluded", c) for c in value_columns)
    statement = sql.SQL(
        "INSERT INTO raw.config_drift AS config_drift ({cols})"
        " SELECT {cols} FROM config_drift_stage ORDER BY device, backup_time"
        " ON CONFLICT (device, backup_time) DO UPDATE SET {updates}, computed_at = now()"
        " WHERE ROW({stored}) IS DISTINCT FROM ROW({incoming})"
    ).format(cols=columns, updates=updates, stored=stored, incoming=incoming)
    return conn.execute(statement).rowcount


# The landing folder.

DEVICES_LANDING = "devices"
BACKUP_LANDING_KIND = "config_backup_landing"


@dataclass
class DeviceLandingSummary:
    """Counts of one ingest of the device part of a landing folder.

    ``backups`` is None when the backups were skipped because neither they, the golden
    configurations nor the Ansible runs changed since the last ingest.
    """

    metrics: MetricsIngestSummary = field(default_factory=MetricsIngestSummary)
    metrics_files_skipped: int = 0
    backups: BackupIngestSummary | None = None

    @property
    def quarantined(self) -> int:
        return self.metrics.quarantined + (self.backups.quarantined if self.backups else 0)


def ingest_device_landing(
    conn: psycopg.Connection, landing: Path, *, force: bool = False
) -> DeviceLandingSummary:
    """Ingest the device metrics and configuration backups below ``landing/devices``.

    A metrics file already ingested with the same content is skipped unless ``force``.
    The backups are read again, and their drift recomputed, when the backups, the golden
    configurations or the stored Ansible runs changed, because a late run can turn an
    unexpected drift into an expected one.
    """
    root = landing.resolve() / DEVICES_LANDING
    summary = DeviceLandingSummary()
    metrics_dir = root / "metrics"
    if metrics_dir.is_dir():
        for path in metrics_files(metrics_dir):
            relative = str(path.resolve().relative_to(landing.resolve()))
            if not force and already_ingested(conn, relative, _file_sha256(path)):
                summary.metrics_files_skipped += 1
                continue
            part = ingest_device_metrics(conn, path, landing=landing.resolve())
            _add_metrics_summary(summary.metrics, part)

    backups_dir = root / "backups"
    if backups_dir.is_dir():
        golden_dir = root / "golden" if (root / "golden").is_dir() else None
        relative = str(backups_dir.relative_to(landing.resolve()))
        fingerprint = _backup_landing_fingerprint(conn, backups_dir, golden_dir)
        if force or not already_ingested(conn, relative, fingerprint):
            with conn.transaction():
                backups = ingest_config_backups(conn, backups_dir, golden_dir, landing=landing)
                record_ingested(
                    conn,
                    relative,
                    fingerprint,
                    BACKUP_LANDING_KIND,
                    backups.backups_read,
                    backups.rejected,
                )
            summary.backups = backups
    log.info(
        "device landing %s: %d metrics files read, %d skipped unchanged; backups %s",
        root,
        summary.metrics.files,
        summary.metrics_files_skipped,
        "read" if summary.backups else "skipped unchanged or absent",
    )
    return summary


def _add_metrics_summary(total: MetricsIngestSummary, part: MetricsIngestSummary) -> None:
    total.files += part.files
    total.samples_read += part.samples_read
    total.rows_inserted += part.rows_inserted
    total.duplicates_skipped += part.duplicates_skipped
    total.rejected += part.rejected
    total.quarantined += part.quarantined


def _backup_landing_fingerprint(
    conn: psycopg.Connection, backups_dir: Path, golden_dir: Path | None
) -> str:
    """Hash the backup files, the golden folder and the state of the stored Ansible runs."""
    runs, last_ingested = conn.execute(
        "SELECT count(*), max(ingested_at) FROM raw.ansible_runs"
    ).fetchone()
    digest = hashlib.sha256()
    digest.update(folder_sha256(backups_dir).encode())
    digest.update(folder_sha256(golden_dir).encode() if golden_dir else b"no golden")
    digest.update(f"{runs}\0{last_ingested}".encode())
    return digest.hexdigest()
