"""Load 5G core landing files into the raw PostgreSQL tables.

Change detection: the fingerprints of all landing files are read with one query, and a file
whose path and SHA-256 are already in raw.ingested_files is skipped unless ``force`` is set.

Write semantics: the other files are parsed without database access and written in batches
of up to BATCH_FILES files (or BATCH_ROWS rows), one transaction per batch. A batch deletes
all rows whose source_path is one of its files' paths (relative to the ingested folder), then
inserts the files' rows with one COPY per raw table, so a re-ingest replaces exactly that
file's rows. Quarantined lines of a file are kept once per (location, content), and the ones
the file no longer produces are removed.

A batch also refreshes raw.nf_counter_increases for the intervals that end or start at the
scrapes it stored or removed (see deploy_manager.core5g.increases), so scrapes may arrive in
any order.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from deploy_manager.core5g.increases import ScrapeKey, refresh_increases
from deploy_manager.core5g.parse import (
    ParsedFile,
    ParseJob,
    file_sha256,
    parse_files,
    parse_processes,
)
from deploy_manager.core5g.sources import DEFAULT_RESPONSE_WINDOW_SECONDS, QuarantinedLine
from deploy_manager.core5g.sources.config import (
    CONFIG_FILE_NAME,
    FORMAT_PROMETHEUS,
    Core5gSourcesConfig,
    SourceConfig,
    load_sources_config,
)
from deploy_manager.core5g.sources.prometheus import Scrape
from deploy_manager.core5g.tables import (
    FORMAT_TABLES,
    INCREASES_TABLE,
    SAMPLES_TABLE,
    SCRAPE_COLUMNS,
    SCRAPES_TABLE,
    CopyData,
    copy_encoded,
    copy_rows,
)
from deploy_manager.ingest.files import fingerprints_of, replace_ingested
from deploy_manager.ingest.pseudonymise import Pseudonymiser, load_key
from deploy_manager.ingest.quarantine import (
    QuarantinedRecord,
    sync_quarantine,
    sync_quarantine_sources,
)
from deploy_manager.ingest.text import decode_bytes

log = logging.getLogger(__name__)

# A batch is written when it has this many files or rows, whichever comes first, which bounds
# the parsed rows held in memory.
BATCH_FILES = 500
BATCH_ROWS = 200_000


# source_kind of the quarantine rows of invalid sources.json entries and of unmatched files.
CONFIG_KIND = "core5g_config"
UNMATCHED_KIND = "core5g_unmatched"


def source_kind(source_format: str) -> str:
    """Return the source_kind of raw.ingested_files and raw.quarantine rows for a format."""
    return f"core5g_{source_format}"


@dataclass
class Core5gIngestSummary:
    """Counts of the files one ingest call read, skipped and failed, and of the rows it wrote."""

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    unmatched_files: list[str] = field(default_factory=list)
    failed_files: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    orphan_outcomes: int = 0

    def add_rows(self, table: str, count: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + count

    def merge(self, other: Core5gIngestSummary) -> None:
        self.files_seen += other.files_seen
        self.files_ingested += other.files_ingested
        self.files_unchanged += other.files_unchanged
        self.unmatched_files.extend(other.unmatched_files)
        self.failed_files.update(other.failed_files)
        for table, count in other.rows.items():
            self.add_rows(table, count)
        self.quarantined += other.quarantined
        self.orphan_outcomes += other.orphan_outcomes


def ingest_core5g_folder(
    conn: psycopg.Connection,
    folder: str | Path,
    key: str | bytes | Pseudonymiser | None = None,
    *,
    config_path: str | Path | None = None,
    force: bool = False,
) -> Core5gIngestSummary:
    """Ingest every file below ``folder`` that an entry of the sources configuration matches.

    Args:
        conn: connection to a database with the raw migrations applied.
        folder: landing folder of the 5G core sources.
        key: pseudonymisation key (hex or text) or a Pseudonymiser; None reads
            ``DM_PSEUDONYM_KEY``.
        config_path: sources configuration; defaults to ``sources.json`` in ``folder``.
        force: re-parse files already ingested unchanged.

    Returns:
        Counts of files and rows. Files no entry matches are listed in ``unmatched_files``,
        files whose entry lacks a needed setting in ``failed_files`` with the reason.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"5G core landing folder {str(root)!r} not found: create it or pass the folder "
            "that holds sources.json and the NF files"
        )
    config_file = Path(config_path) if config_path else root / CONFIG_FILE_NAME
    config = load_sources_config(config_file)
    pseudonymiser = key if isinstance(key, Pseudonymiser) else Pseudonymiser(load_key(key))

    summary = Core5gIngestSummary()
    with conn.transaction():
        summary.quarantined += _quarantine_rejected_entries(conn, config)
    matched: list[tuple[Path, str, SourceConfig]] = []
    unmatched: list[tuple[Path, str]] = []
    config_resolved = config_file.resolve()
    config_stat = config_resolved.stat()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith(".") or _is_file_at(path, config_stat, config_resolved):
            continue
        relative = path.relative_to(root).as_posix()
        source = config.match(relative)
        if source is None:
            unmatched.append((path, relative))
        else:
            matched.append((path, relative, source))
    summary.merge(_quarantine_unmatched(conn, config, unmatched, [m[1] for m in matched]))
    summary.merge(
        _ingest_files(conn, matched, pseudonymiser, config.response_window_seconds, force)
    )
    log.info(
        "core5g ingest of %s: %d files seen, %d ingested, %d unchanged, %d unmatched, "
        "%d failed, rows %s, %d lines quarantined",
        root,
        summary.files_seen,
        summary.files_ingested,
        summary.files_unchanged,
        len(summary.unmatched_files),
        len(summary.failed_files),
        summary.rows,
        summary.quarantined,
    )
    return summary


def _is_file_at(path: Path, target: os.stat_result, resolved: Path) -> bool:
    """Return whether ``path`` resolves to ``resolved``, whose stat is ``target``. A file with
    another inode cannot, so most landing files are not resolved."""
    found = path.stat()
    if (found.st_ino, found.st_dev) != (target.st_ino, target.st_dev):
        return False
    return path.resolve() == resolved


def _quarantine_rejected_entries(conn: psycopg.Connection, config: Core5gSourcesConfig) -> int:
    """Replace the quarantine rows of sources.json with its invalid entries and return the
    number of new rows."""
    records = [
        QuarantinedRecord(
            CONFIG_KIND, CONFIG_FILE_NAME, f"entry {entry.number}", entry.reason, entry.content
        )
        for entry in config.rejected
    ]
    for entry in config.rejected:
        log.warning("%s entry %d rejected: %s", CONFIG_FILE_NAME, entry.number, entry.reason)
    return sync_quarantine(conn, CONFIG_FILE_NAME, (CONFIG_KIND,), records)


def _unmatched_reason(config: Core5gSourcesConfig, relative: str) -> str:
    entry = config.rejected_match(relative)
    if entry is not None:
        return (
            f"{CONFIG_FILE_NAME} entry {entry.number}, whose pattern matches this file, is"
            f" invalid, so the file is not ingested: {entry.reason}"
        )
    return (
        f"no entry of {CONFIG_FILE_NAME} matches this file: add an entry whose pattern matches"
        " it, or move the file out of the 5G core landing folder"
    )


def _quarantine_unmatched(
    conn: psycopg.Connection,
    config: Core5gSourcesConfig,
    unmatched: list[tuple[Path, str]],
    matched_paths: list[str],
) -> Core5gIngestSummary:
    """Quarantine the files no entry matches, and remove the quarantine rows of matched files
    that an entry did not match before."""
    summary = Core5gIngestSummary(files_seen=len(unmatched))
    records = []
    for path, relative in unmatched:
        summary.unmatched_files.append(relative)
        reason = _unmatched_reason(config, relative)
        log.warning("%s not ingested: %s", relative, reason)
        records.append(
            QuarantinedRecord(
                UNMATCHED_KIND, relative, "file", reason, decode_bytes(path.read_bytes())
            )
        )
    with conn.transaction():
        if matched_paths:
            conn.execute(
                "DELETE FROM raw.quarantine WHERE source_kind = %s AND source_path = ANY(%s)",
                (UNMATCHED_KIND, matched_paths),
            )
        sources = [(relative, UNMATCHED_KIND) for _, relative in unmatched]
        summary.quarantined = sync_quarantine_sources(conn, sources, records)
    return summary


def ingest_core5g_file(
    conn: psycopg.Connection,
    path: str | Path,
    source_path: str,
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    *,
    response_window_seconds: float = DEFAULT_RESPONSE_WINDOW_SECONDS,
    force: bool = False,
) -> Core5gIngestSummary:
    """Parse one landing file with its source entry and replace its rows in the raw tables."""
    return _ingest_files(
        conn, [(Path(path), source_path, source)], pseudonymiser, response_window_seconds, force
    )


def _ingest_files(
    conn: psycopg.Connection,
    files: list[tuple[Path, str, SourceConfig]],
    pseudonymiser: Pseudonymiser,
    window: float,
    force: bool,
) -> Core5gIngestSummary:
    """Ingest (path, source path, source entry) files that changed, in batches, in order."""
    summary = Core5gIngestSummary(files_seen=len(files))
    known = set() if force else fingerprints_of(conn, [relative for _, relative, _ in files])

    def changed_files() -> Iterator[ParseJob]:
        for path, relative, source in files:
            data = path.read_bytes()
            digest = file_sha256(data)
            if (relative, digest) in known:
                summary.files_unchanged += 1
                continue
            yield data, digest, relative, source

    writer = _BatchWriter(conn, summary)
    processes = parse_processes()
    for parsed in parse_files(changed_files(), pseudonymiser, window, processes):
        relative = parsed.source_path
        if parsed.failure is not None:
            summary.failed_files[relative] = parsed.failure
            log.warning("core5g file %s not ingested: %s", relative, parsed.failure)
            continue
        writer.add(parsed)
    writer.flush()
    return summary


class _BatchWriter:
    """Collects parsed files and writes them in batches, one transaction per batch."""

    def __init__(self, conn: psycopg.Connection, summary: Core5gIngestSummary) -> None:
        self._conn = conn
        self._summary = summary
        self._pending: list[ParsedFile] = []
        self._pending_rows = 0
        # The scrapes the previous batch stored: the next batch's scrapes of the same series
        # follow them, so their increases need no read-back.
        self._recent_scrapes: dict[ScrapeKey, Scrape] = {}

    def add(self, parsed: ParsedFile) -> None:
        self._pending.append(parsed)
        self._pending_rows += parsed.row_count
        if len(self._pending) >= BATCH_FILES or self._pending_rows >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        files = self._pending
        self._pending = []
        self._pending_rows = 0
        with self._conn.transaction():
            written = _write_batch(self._conn, files, self._recent_scrapes)
        self._recent_scrapes = written.scrapes
        self._summary.quarantined += written.quarantined
        for parsed in files:
            rows = written.file_rows[parsed.source_path]
            self._summary.files_ingested += 1
            self._summary.orphan_outcomes += parsed.orphan_outcomes
            for table, count in rows.items():
                self._summary.add_rows(table, count)
            log.info(
                "ingested %s (%s, site %s, %s): rows %s, %d lines quarantined",
                parsed.source_path,
                parsed.source.format,
                parsed.source.site_id,
                parsed.source.instance,
                rows,
                len(parsed.quarantined),
            )


@dataclass
class _WrittenBatch:
    """Rows per file and table, new quarantine rows and stored scrapes of one written batch."""

    file_rows: dict[str, dict[str, int]]
    quarantined: int
    scrapes: dict[ScrapeKey, Scrape]


def _write_batch(
    conn: psycopg.Connection,
    files: list[ParsedFile],
    recent_scrapes: dict[ScrapeKey, Scrape],
) -> _WrittenBatch:
    """Replace the rows of ``files`` in the raw tables, inside the caller's transaction.

    ``recent_scrapes`` are stored scrapes kept in memory from an earlier batch.
    """
    owners = _scrape_owners(conn, files)
    removed = _delete_file_rows(conn, files)
    stored = _place_scrapes(files, owners)
    file_rows: dict[str, dict[str, int]] = {}
    by_table: dict[str, list[CopyData]] = defaultdict(list)
    scrape_rows = []
    for parsed in files:
        counts: dict[str, int] = {}
        for table, data in parsed.tables.items():
            counts[table] = data.rows
            by_table[table].append(data)
        if parsed.scrape is not None:
            scrape_rows.append(_scrape_row(parsed.scrape, parsed.source_path))
        file_rows[parsed.source_path] = counts
    if scrape_rows:
        copy_rows(conn, SCRAPES_TABLE, SCRAPE_COLUMNS, scrape_rows)
    for table, parts in by_table.items():
        copy_encoded(conn, table, parts)

    changes = [(key, path) for key, path in removed]
    changes += [(key, scrape_path) for key, (scrape_path, _) in stored.items()]
    in_memory = {**recent_scrapes, **{key: scrape for key, (_, scrape) in stored.items()}}
    increases = refresh_increases(conn, changes, in_memory)
    for parsed in files:
        if parsed.source.format == FORMAT_PROMETHEUS:
            file_rows[parsed.source_path][INCREASES_TABLE] = increases.get(parsed.source_path, 0)

    records = [
        QuarantinedRecord(
            source_kind(p.source.format), p.source_path, line.location, line.reason, line.content
        )
        for p in files
        for line in p.quarantined
    ]
    sources = [(p.source_path, source_kind(p.source.format)) for p in files]
    new_quarantined = sync_quarantine_sources(conn, sources, records)
    replace_ingested(
        conn,
        [
            (
                p.source_path,
                p.sha256,
                source_kind(p.source.format),
                p.record_count,
                len(p.quarantined),
            )
            for p in files
        ],
    )
    return _WrittenBatch(
        file_rows, new_quarantined, {key: scrape for key, (_, scrape) in stored.items()}
    )


def _scrape_owners(conn: psycopg.Connection, files: list[ParsedFile]) -> dict[ScrapeKey, str]:
    """Return the source path of each stored scrape that has the key of a batch scrape, as
    stored before the batch deletes anything."""
    keys = [
        (p.scrape.site_id, p.scrape.instance, p.scrape.scraped_at)
        for p in files
        if p.scrape is not None
    ]
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT s.site_id, s.instance, s.scraped_at, s.source_path FROM raw.nf_scrapes AS s"
        " JOIN unnest(%s::text[], %s::text[], %s::timestamptz[]) AS k(site_id, instance, at)"
        " ON s.site_id = k.site_id AND s.instance = k.instance AND s.scraped_at = k.at",
        ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
    )
    return {(site_id, instance, at): path for site_id, instance, at, path in rows}


def _delete_file_rows(
    conn: psycopg.Connection, files: list[ParsedFile]
) -> list[tuple[ScrapeKey, str]]:
    """Delete the rows earlier ingests of the files wrote, in the tables of each file's
    format, and return the key and source path of each scrape removed."""
    paths_by_table: dict[str, list[str]] = defaultdict(list)
    for parsed in files:
        for table in FORMAT_TABLES[parsed.source.format]:
            paths_by_table[table].append(parsed.source_path)
    removed: list[tuple[ScrapeKey, str]] = []
    for table, paths in paths_by_table.items():
        statement = sql.SQL("DELETE FROM {} WHERE source_path = ANY(%s)").format(
            sql.Identifier("raw", table)
        )
        if table != SCRAPES_TABLE:
            conn.execute(statement, (paths,))
            continue
        returning = sql.SQL(" RETURNING site_id, instance, scraped_at, source_path")
        for site_id, instance, at, path in conn.execute(statement + returning, (paths,)):
            removed.append(((site_id, instance, at), path))
    return removed


def _place_scrapes(
    files: list[ParsedFile], owners: dict[ScrapeKey, str]
) -> dict[ScrapeKey, tuple[str, Scrape]]:
    """Return the scrapes of the batch to store, by key, and quarantine each other one.

    Files are taken in order, as if each were written in its own transaction. A scrape is a
    duplicate when an earlier file of the batch stored its key. It is also one when a stored
    scrape of a file outside the batch, or of a later file of the batch, has its key.
    """
    order = {p.source_path: index for index, p in enumerate(files)}
    stored: dict[ScrapeKey, tuple[str, Scrape]] = {}
    for index, parsed in enumerate(files):
        scrape = parsed.scrape
        if scrape is None:
            continue
        key = (scrape.site_id, scrape.instance, scrape.scraped_at)
        other = stored[key][0] if key in stored else owners.get(key)
        if other is not None and key not in stored and order.get(other, len(files)) <= index:
            # The earlier file (or this one) was deleted before this file came to be written.
            other = None
        if other is None:
            stored[key] = (parsed.source_path, scrape)
            continue
        parsed.tables.pop(SAMPLES_TABLE, None)
        parsed.scrape = None
        parsed.quarantined.append(
            QuarantinedLine(
                "file",
                f"scrape of {scrape.instance} at {scrape.scraped_at.isoformat()} is already "
                f"loaded from {other}: remove the duplicate file or fix its scrape time",
                parsed.text,
            )
        )
    return stored


def _scrape_row(scrape: Scrape, source_path: str) -> tuple:
    return (
        scrape.site_id,
        scrape.nf,
        scrape.instance,
        scrape.vendor,
        scrape.scraped_at,
        scrape.process_start_time,
        len(scrape.samples),
        scrape.event_date,
        source_path,
    )
