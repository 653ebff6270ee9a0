"""Load Ansible runs and inventory snapshots from the landing folder into the raw tables.

Landing layout (paths relative to the landing folder):
- ``inventory/*``: inventory snapshots (``ansible-inventory --list`` JSON, INI or YAML).
- ``ansible/**/<ident>/``: ansible-runner artifact folders (``job_events/``, ``status``, ``rc``).
- ``ansible/**/<name>.json`` or ``.jsonl``: json / jsonl callback output, with a sidecar
  ``<name>.meta.json`` of ``{"run_id": ..., "playbook": ...}`` because the callbacks carry
  neither.

Each run is replaced whole (its rows deleted and written again in one transaction), so
ingesting the same folder twice leaves the tables as they were. A run id belongs to the source
that stored it first, and another source with that run id is quarantined.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from deploy_manager.ingest.files import (
    already_ingested,
    file_sha256,
    ingested_fingerprints,
    read_folder,
    record_ingested,
)
from deploy_manager.ingest.quarantine import (
    QuarantinedRecord,
    invalid_utf8_records,
    sync_quarantine,
    write_quarantine,
)
from deploy_manager.ingest.text import (
    MAX_MESSAGE_CHARS,
    MAX_RESULT_CHARS,
    clean_text,
    compact_json,
    cut,
    decode_bytes,
    encoding_error,
)
from deploy_manager.netops.sources.errors import error_message, normalise_error
from deploy_manager.netops.sources.inventory import (
    InventoryError,
    load_inventory_listing,
    site_assignments,
    snapshot_time,
)
from deploy_manager.netops.sources.json_callback import parse_json_document, parse_jsonl
from deploy_manager.netops.sources.model import AnsibleParseError, ParsedRun
from deploy_manager.netops.sources.runner_artifacts import (
    is_artifact_folder,
    parse_artifact_files,
)

log = logging.getLogger(__name__)

_RUN_COLUMNS = (
    "run_id",
    "playbook",
    "status",
    "rc",
    "completeness",
    "started_at",
    "ended_at",
    "run_date",
    "duration_seconds",
    "ansible_version",
    "source_format",
    "source_path",
    "event_count",
    "duplicate_events",
    "preamble",
)
_RESULT_COLUMNS = (
    "run_id",
    "host",
    "site_id",
    "run_date",
    "task_id",
    "outcome",
    "playbook",
    "play",
    "task",
    "task_action",
    "role",
    "event_counter",
    "event_created",
    "duration_seconds",
    "error_message",
    "error_normalised",
    "result_json",
    "result_truncated",
    "result_length",
)
_STATS_COLUMNS = (
    "run_id",
    "host",
    "site_id",
    "run_date",
    "playbook",
    "ok",
    "changed",
    "failures",
    "dark",
    "skipped",
    "rescued",
    "ignored",
    "succeeded",
)
_RUN_SITE_COLUMNS = (
    "run_id",
    "site_id",
    "run_date",
    "playbook",
    "completeness",
    "duration_seconds",
)
_RUN_TABLES = ("ansible_host_results", "ansible_host_stats", "ansible_run_sites", "ansible_runs")
_BATCH_RUNS = 500


@dataclass
class IngestSummary:
    """What one ingest call read, wrote, skipped and quarantined."""

    files_read: int = 0
    files_skipped: int = 0
    runs: int = 0
    host_results: int = 0
    quarantined: int = 0
    sites: set[str] = field(default_factory=set)

    def merge(self, other: IngestSummary) -> None:
        self.files_read += other.files_read
        self.files_skipped += other.files_skipped
        self.runs += other.runs
        self.host_results += other.host_results
        self.quarantined += other.quarantined
        self.sites |= other.sites


class SiteLookup:
    """Site of a host at a time: the newest snapshot at or before it, else the oldest one."""

    def __init__(self, rows: list[tuple[str, str, datetime]]) -> None:
        self._by_host: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for host, site, valid_from in rows:
            self._by_host[host].append((valid_from, site))
        for entries in self._by_host.values():
            entries.sort()

    @classmethod
    def from_database(cls, conn: psycopg.Connection) -> SiteLookup:
        return cls(conn.execute("SELECT host, site_id, valid_from FROM raw.inventory").fetchall())

    def site_of(self, host: str, at: datetime | None) -> str | None:
        entries = self._by_host.get(host)
        if not entries:
            return None
        if at is None:
            return entries[-1][1]
        index = bisect.bisect_right(entries, (at, "\uffff")) - 1
        return entries[max(index, 0)][1]


def ingest_inventory_file(conn: psycopg.Connection, path: Path, source_path: str) -> IngestSummary:
    """Store one inventory snapshot's host-to-site assignments; bad hosts go to quarantine."""
    summary = IngestSummary(files_read=1)
    valid_from = snapshot_time(path)
    try:
        assigned, rejected = site_assignments(load_inventory_listing(path))
    except (InventoryError, OSError) as exc:
        summary.quarantined += write_quarantine(
            conn,
            [
                QuarantinedRecord(
                    "inventory", source_path, "file", str(exc), decode_bytes(path.read_bytes())
                )
            ],
        )
        return summary
    with conn.cursor() as cur:
        cur.execute("DELETE FROM raw.inventory WHERE source_path = %s", (source_path,))
        cur.executemany(
            "INSERT INTO raw.inventory (host, site_id, valid_from, source_path)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (host, valid_from) DO UPDATE"
            " SET site_id = EXCLUDED.site_id, source_path = EXCLUDED.source_path",
            [(a.host, a.site_id, valid_from, source_path) for a in assigned],
        )
    summary.quarantined += write_quarantine(
        conn,
        [
            QuarantinedRecord("inventory", source_path, f"host {r.host}", r.reason, r.host)
            for r in rejected
        ],
    )
    summary.sites = {a.site_id for a in assigned}
    log.info(
        "inventory %s: %d hosts at %d sites, %d rejected",
        source_path,
        len(assigned),
        len(summary.sites),
        len(rejected),
    )
    return summary


def _run_rows(
    run: ParsedRun, lookup: SiteLookup
) -> tuple[dict[str, list[tuple]], list[QuarantinedRecord]]:
    """Turn a parsed run into rows per raw table, and quarantine hosts with no site."""
    run_date = run.started_at.date() if run.started_at else None
    completeness = run.completeness
    rows: dict[str, list[tuple]] = {name: [] for name in _RUN_TABLES}
    rows["ansible_runs"].append(
        (
            run.run_id,
            run.playbook,
            run.status,
            run.rc,
            completeness,
            run.started_at,
            run.ended_at,
            run_date,
            run.duration_seconds,
            run.ansible_version,
            run.source_format,
            run.source_path,
            run.event_count,
            run.duplicate_events,
            clean_text(run.preamble),
        )
    )
    quarantined: list[QuarantinedRecord] = []
    sites: dict[str, str] = {}
    for host in sorted(run.hosts):
        site = lookup.site_of(host, run.started_at)
        if site is None:
            results = [r.result for r in run.results if r.host == host]
            quarantined.append(
                QuarantinedRecord(
                    "ansible",
                    run.source_path,
                    f"run {run.run_id} host {host}",
                    f"host {host!r} is in no inventory snapshot, so its results have no site: add "
                    "it to a site_<ID> group or give it a site_id variable, then re-ingest with "
                    "--force",
                    compact_json({"host": host, "results": results}),
                )
            )
        else:
            sites[host] = site
    if run_date is None:
        return rows, quarantined

    seen: set[tuple[str, str, str]] = set()
    hosts = list(run.hosts)
    for result in run.results:
        site = sites.get(result.host)
        key = (result.host, result.task_id, result.outcome)
        if site is None or key in seen:
            continue
        seen.add(key)
        message = None
        if result.outcome in ("failed", "ignored", "rescued", "unreachable"):
            message, _, _ = cut(clean_text(error_message(result.result)), MAX_MESSAGE_CHARS)
        body, truncated, length = cut(compact_json(result.result), MAX_RESULT_CHARS)
        rows["ansible_host_results"].append(
            (
                run.run_id,
                result.host,
                site,
                run_date,
                result.task_id,
                result.outcome,
                run.playbook,
                clean_text(result.play),
                clean_text(result.task),
                clean_text(result.task_action),
                clean_text(result.role),
                result.event_counter,
                result.event_created,
                result.duration_seconds,
                message,
                normalise_error(message, hosts),
                body,
                truncated,
                length,
            )
        )
    for host, stats in sorted((run.stats or {}).items()):
        if host in sites:
            rows["ansible_host_stats"].append(
                (
                    run.run_id,
                    host,
                    sites[host],
                    run_date,
                    run.playbook,
                    stats.ok,
                    stats.changed,
                    stats.failures,
                    stats.dark,
                    stats.skipped,
                    stats.rescued,
                    stats.ignored,
                    stats.succeeded,
                )
            )
    for site in sorted(set(sites.values())):
        rows["ansible_run_sites"].append(
            (run.run_id, site, run_date, run.playbook, completeness, run.duration_seconds)
        )
    return rows, quarantined


def write_runs(
    conn: psycopg.Connection, runs: list[ParsedRun], lookup: SiteLookup
) -> tuple[int, int, list[QuarantinedRecord]]:
    """Replace the given runs in the raw tables in one transaction; returns the number of runs
    and host results written and the records to quarantine."""
    batch: dict[str, list[tuple]] = {name: [] for name in _RUN_TABLES}
    quarantined: list[QuarantinedRecord] = []
    for run in runs:
        rows, rejected = _run_rows(run, lookup)
        for name, table_rows in rows.items():
            batch[name].extend(table_rows)
        quarantined.extend(rejected)
    run_ids = [run.run_id for run in runs]
    columns = {
        "ansible_runs": _RUN_COLUMNS,
        "ansible_host_results": _RESULT_COLUMNS,
        "ansible_host_stats": _STATS_COLUMNS,
        "ansible_run_sites": _RUN_SITE_COLUMNS,
    }
    with conn.transaction(), conn.cursor() as cur:
        for table in _RUN_TABLES:
            cur.execute(
                psycopg.sql.SQL("DELETE FROM raw.{} WHERE run_id = ANY(%s)").format(
                    psycopg.sql.Identifier(table)
                ),
                (run_ids,),
            )
        for table in reversed(_RUN_TABLES):
            copy_sql = psycopg.sql.SQL("COPY raw.{} ({}) FROM STDIN").format(
                psycopg.sql.Identifier(table),
                psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns[table])),
            )
            with cur.copy(copy_sql) as copy:
                for row in batch[table]:
                    copy.write_row(row)
    return len(runs), len(batch["ansible_host_results"]), quarantined


_ANSIBLE_KINDS = ("ansible_runner", "ansible_callback")


class _RunClaims:
    """Owners of run ids, so two sources never write one run."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._owners: dict[str, tuple[str, str | None]] = {
            run_id: (source_path, None)
            for run_id, source_path in conn.execute(
                "SELECT run_id, source_path FROM raw.ansible_runs"
            )
        }

    def claim(self, run_id: str, source_path: str, digest: str) -> str | None:
        """Record ``source_path`` as the owner of ``run_id``, or return why it cannot be: another
        source already owns that run id."""
        owner, owner_digest = self._owners.get(run_id, (source_path, None))
        if owner == source_path:
            self._owners[run_id] = (source_path, digest)
            return None
        if owner_digest == digest:
            return (
                f"run id {run_id!r} is already ingested from {owner}, and {source_path} is an"
                " identical copy of it: delete the copy"
            )
        return (
            f"run id {run_id!r} is already ingested from {owner}, so {source_path} would replace"
            " that run: delete this source if it is a copy, or give it its own run id (the"
            " artifact folder name, or run_id in the .meta.json file) and re-ingest"
        )


def _reject_source(
    conn: psycopg.Connection,
    kind: str,
    source_path: str,
    digest: str,
    location: str,
    reason: str,
    content: str,
) -> int:
    """Quarantine a whole source in place of its earlier records and return the new row count."""
    log.warning("quarantined %s: %s", source_path, reason)
    with conn.transaction():
        record = QuarantinedRecord(kind, source_path, location, reason, content)
        count = sync_quarantine(conn, source_path, _ANSIBLE_KINDS, [record])
        record_ingested(conn, source_path, digest, "rejected", 0, count)
    return count


def _folder_content(files: dict[str, bytes]) -> str:
    """Return the text of every file of an artifact folder as a JSON object by relative path."""
    return compact_json({name: decode_bytes(data) for name, data in sorted(files.items())})


def _ansible_sources(folder: Path) -> tuple[list[Path], list[Path]]:
    """Return the artifact folders and the other files below ``folder``, walking it once and
    not descending into artifact folders."""
    artifact_folders: list[Path] = []
    callback_files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        current = Path(root)
        if is_artifact_folder(current):
            artifact_folders.append(current)
            dirs.clear()
            continue
        dirs.sort()
        for name in sorted(names):
            if not name.endswith(".meta.json") and not name.startswith("."):
                callback_files.append(current / name)
    return artifact_folders, callback_files


def _parse_callback_file(data: bytes, path: Path, source_path: str) -> tuple[ParsedRun, list]:
    problem = encoding_error(data)
    if problem is not None:
        raise AnsibleParseError(problem)
    text = decode_bytes(data)
    if not any(line.lstrip().startswith("{") for line in text.splitlines()):
        raise AnsibleParseError(
            "no line starts a JSON object, so this is not json or jsonl callback output; "
            "move other files out of the ansible/ landing folder"
        )
    meta_path = path.with_name(path.name.rsplit(".", 1)[0] + ".meta.json")
    if not meta_path.is_file():
        raise AnsibleParseError(
            f"json callback output has no playbook and run id: write {meta_path.name} beside it "
            'with {"run_id": "...", "playbook": "..."}'
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        run_id, playbook = str(meta["run_id"]), str(meta["playbook"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise AnsibleParseError(
            f"{meta_path.name} is invalid ({exc}): it must be a JSON object with 'run_id' and "
            "'playbook'"
        ) from exc
    first_json_line = next((ln for ln in text.splitlines() if ln.lstrip().startswith("{")), "")
    if '"_event"' in first_json_line:
        return parse_jsonl(text, run_id=run_id, playbook=playbook, source_path=source_path)
    return parse_json_document(text, run_id=run_id, playbook=playbook, source_path=source_path), []


def ingest_landing(
    conn: psycopg.Connection, landing: Path, *, force: bool = False
) -> IngestSummary:
    """Ingest the inventory snapshots and Ansible output below ``landing``.

    Files and folders already ingested with the same content are skipped unless ``force``.
    Input that cannot be parsed goes to raw.quarantine and the rest is still ingested.
    """
    summary = IngestSummary()
    landing = landing.resolve()

    for path in (
        sorted((landing / "inventory").glob("*")) if (landing / "inventory").is_dir() else []
    ):
        if not path.is_file() or path.name.startswith("."):
            continue
        relative = str(path.relative_to(landing))
        digest = file_sha256(path)
        if not force and already_ingested(conn, relative, digest):
            summary.files_skipped += 1
            summary.sites |= {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT site_id FROM raw.inventory WHERE source_path = %s", (relative,)
                )
            }
            continue
        with conn.transaction():
            part = ingest_inventory_file(conn, path, relative)
            record_ingested(conn, relative, digest, "inventory", len(part.sites), part.quarantined)
        summary.merge(part)

    ansible_dir = landing / "ansible"
    if not ansible_dir.is_dir():
        return summary
    lookup = SiteLookup.from_database(conn)
    pending: list[tuple[ParsedRun, str, str, str, list[QuarantinedRecord]]] = []
    claims = _RunClaims(conn)

    def flush() -> None:
        if not pending:
            return
        runs, hosts_written, rejected = write_runs(conn, [p[0] for p in pending], lookup)
        summary.runs += runs
        summary.host_results += hosts_written
        with conn.transaction():
            for run, relative, digest, kind, bad in pending:
                own = [r for r in rejected if r.source_path == run.source_path] + bad
                summary.quarantined += sync_quarantine(conn, relative, _ANSIBLE_KINDS, own)
                record_ingested(conn, relative, digest, kind, len(run.results), len(own))
        pending.clear()

    def add(
        run: ParsedRun, relative: str, digest: str, kind: str, bad: list, content: Callable[[], str]
    ) -> None:
        conflict = claims.claim(run.run_id, relative, digest)
        if conflict is not None:
            summary.quarantined += _reject_source(
                conn, kind, relative, digest, "run_id", conflict, content()
            )
            return
        pending.append((run, relative, digest, kind, bad))
        if len(pending) >= _BATCH_RUNS:
            flush()

    artifact_folders, callback_files = _ansible_sources(ansible_dir)
    known_runs = set() if force else ingested_fingerprints(conn, "ansible_runner")
    for folder in artifact_folders:
        relative = str(folder.relative_to(landing))
        digest, files = read_folder(folder)
        summary.files_read += 1
        if (relative, digest) in known_runs:
            summary.files_skipped += 1
            continue
        try:
            run, bad_files = parse_artifact_files(folder, files)
        except AnsibleParseError as exc:
            summary.quarantined += _reject_source(
                conn,
                "ansible_runner",
                relative,
                digest,
                "folder",
                f"not a readable ansible-runner artifact folder: {exc}",
                _folder_content(files),
            )
            continue
        run.source_path = relative
        bad = [
            QuarantinedRecord(
                "ansible_runner", relative, str(b.path.relative_to(folder)), b.reason, b.content
            )
            for b in bad_files
        ]
        bad += invalid_utf8_records("ansible_runner", relative, files)
        add(
            run, relative, digest, "ansible_runner", bad, lambda files=files: _folder_content(files)
        )

    for path in callback_files:
        relative = str(path.relative_to(landing))
        digest = file_sha256(path, path.with_name(path.name.rsplit(".", 1)[0] + ".meta.json"))
        summary.files_read += 1
        if not force and already_ingested(conn, relative, digest):
            summary.files_skipped += 1
            continue
        data = path.read_bytes()
        try:
            run, bad_lines = _parse_callback_file(data, path, relative)
        except (AnsibleParseError, UnicodeError) as exc:
            summary.quarantined += _reject_source(
                conn,
                "ansible_callback",
                relative,
                digest,
                "file",
                f"not Ansible json/jsonl callback output: {exc}",
                decode_bytes(data),
            )
            continue
        bad = [
            QuarantinedRecord(
                "ansible_callback", relative, f"line {b.line_number}", b.reason, b.content
            )
            for b in bad_lines
        ]
        bad += invalid_utf8_records("ansible_callback", relative, {"": data})
        add(run, relative, digest, "ansible_callback", bad, lambda data=data: decode_bytes(data))
    flush()
    log.info(
        "ingested %d runs (%d host results) from %d sources, %d skipped unchanged, "
        "%d records quarantined",
        summary.runs,
        summary.host_results,
        summary.files_read,
        summary.files_skipped,
        summary.quarantined,
    )
    return summary
