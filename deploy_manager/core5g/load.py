"""Load 5G core landing files into the raw PostgreSQL tables.

Write semantics: each file is loaded in its own transaction. All rows whose source_path is
the file's path (relative to the ingested folder) are deleted and the file's rows are
inserted with COPY, so a re-ingest replaces exactly that file's rows. A file whose path and
SHA-256 are already in raw.ingested_files is skipped unless ``force`` is set. Quarantined
lines of the file are kept once per (location, content), and the ones the file no longer
produces are removed.

A scrape also refreshes raw.nf_counter_increases for the intervals that end or start at it,
so scrapes may arrive in any order.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from pathlib import Path

import psycopg
from psycopg import sql

from deploy_manager.core5g.sources import (
    DEFAULT_RESPONSE_WINDOW_SECONDS,
    ParsedPduSessions,
    ParsedRegistrations,
    QuarantinedLine,
)
from deploy_manager.core5g.sources.cdr import ParsedCdrs, parse_chf_cdr_csv, parse_chf_cdr_json
from deploy_manager.core5g.sources.config import (
    CONFIG_FILE_NAME,
    FORMAT_CDR_CSV,
    FORMAT_CDR_JSON,
    FORMAT_FREE5GC_LOG,
    FORMAT_OPEN5GS_LOG,
    FORMAT_PROMETHEUS,
    Core5gSourcesConfig,
    SourceConfig,
    SourceConfigError,
    load_sources_config,
)
from deploy_manager.core5g.sources.free5gc_log import parse_free5gc_amf_log
from deploy_manager.core5g.sources.open5gs_log import parse_open5gs_amf_log, parse_open5gs_smf_log
from deploy_manager.core5g.sources.prometheus import (
    CounterIncrease,
    Scrape,
    ScrapeSample,
    counter_increases,
    parse_scrape,
)
from deploy_manager.ingest.files import already_ingested, record_ingested
from deploy_manager.ingest.pseudonymise import Pseudonymiser, load_key
from deploy_manager.ingest.quarantine import QuarantinedRecord, sync_quarantine
from deploy_manager.ingest.text import decode_bytes, encoding_error, invalid_utf8

log = logging.getLogger(__name__)

REGISTRATIONS_TABLE = "amf_registration_attempts"
PDU_SESSIONS_TABLE = "pdu_session_attempts"
SCRAPES_TABLE = "nf_scrapes"
SAMPLES_TABLE = "nf_metric_samples"
INCREASES_TABLE = "nf_counter_increases"
CDRS_TABLE = "chf_cdrs"

# Every table a file's rows go to, by format (raw.nf_counter_increases is refreshed apart).
_FORMAT_TABLES: dict[str, tuple[str, ...]] = {
    FORMAT_OPEN5GS_LOG: (REGISTRATIONS_TABLE, PDU_SESSIONS_TABLE),
    FORMAT_FREE5GC_LOG: (REGISTRATIONS_TABLE,),
    FORMAT_PROMETHEUS: (SAMPLES_TABLE, SCRAPES_TABLE),
    FORMAT_CDR_JSON: (CDRS_TABLE,),
    FORMAT_CDR_CSV: (CDRS_TABLE,),
}

REGISTRATION_COLUMNS = (
    "site_id",
    "amf_instance",
    "nf_vendor",
    "attempt_key",
    "ran_ue_ngap_id",
    "amf_ue_ngap_id",
    "ue_pseudonym",
    "identity_resolved",
    "requested_at",
    "requested_at_text",
    "outcome",
    "outcome_at",
    "outcome_at_text",
    "cause_code",
    "cause_name",
    "cause_logged",
    "latency_ms",
    "accept_retransmissions",
    "tac",
    "cell_id",
    "event_date",
    "source_path",
    "line_number",
)
PDU_SESSION_COLUMNS = (
    "site_id",
    "smf_instance",
    "nf_vendor",
    "ue_pseudonym",
    "pdu_session_id",
    "dnn",
    "snssai_sst",
    "snssai_sd",
    "requested_at",
    "requested_at_text",
    "outcome",
    "outcome_at",
    "outcome_at_text",
    "cause_code",
    "cause_name",
    "cause_logged",
    "latency_ms",
    "ue_ipv4_pseudonym",
    "ue_ipv6_pseudonym",
    "event_date",
    "source_path",
    "line_number",
)
SAMPLE_COLUMNS = (
    "site_id",
    "nf",
    "instance",
    "scraped_at",
    "metric",
    "metric_type",
    "labels_key",
    "labels",
    "value",
    "value_text",
    "quality",
    "sample_timestamp_ms",
    "process_start_time",
    "event_date",
    "source_path",
    "line_number",
)
INCREASE_COLUMNS = (
    "site_id",
    "nf",
    "instance",
    "metric",
    "labels_key",
    "labels",
    "unlabelled",
    "interval_start",
    "interval_end",
    "interval_seconds",
    "start_value",
    "end_value",
    "increase",
    "counter_reset",
    "series_started",
    "event_date",
)
CDR_COLUMNS = (
    "site_id",
    "chf_instance",
    "charging_id",
    "record_sequence_number",
    "local_record_sequence_number",
    "partial_record",
    "ue_pseudonym",
    "gpsi_pseudonym",
    "pei_pseudonym",
    "ue_ipv4_pseudonym",
    "ue_ipv6_pseudonym",
    "record_opening_time",
    "record_opening_time_text",
    "duration_seconds",
    "cause_for_record_closing",
    "pdu_session_id",
    "snssai_sst",
    "snssai_sd",
    "dnn",
    "rat_type",
    "plmn_id",
    "tac",
    "nr_cell_id",
    "rating_group",
    "container_number",
    "local_sequence_number",
    "first_usage_at",
    "last_usage_at",
    "container_time_seconds",
    "container_nr_cell_id",
    "uplink_octets",
    "downlink_octets",
    "event_date",
    "source_path",
    "record_location",
)


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
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith(".") or path.resolve() == config_file.resolve():
            continue
        relative = path.relative_to(root).as_posix()
        summary.merge(_ingest_matched(conn, path, relative, config, pseudonymiser, force))
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


def _ingest_matched(conn, path, relative, config, pseudonymiser, force) -> Core5gIngestSummary:
    source = config.match(relative)
    if source is None:
        summary = Core5gIngestSummary(files_seen=1)
        summary.unmatched_files.append(relative)
        reason = _unmatched_reason(config, relative)
        log.warning("%s not ingested: %s", relative, reason)
        record = QuarantinedRecord(
            UNMATCHED_KIND, relative, "file", reason, decode_bytes(Path(path).read_bytes())
        )
        with conn.transaction():
            summary.quarantined = sync_quarantine(conn, relative, (UNMATCHED_KIND,), [record])
        return summary
    with conn.transaction():
        sync_quarantine(conn, relative, (UNMATCHED_KIND,), [])
    return ingest_core5g_file(
        conn,
        path,
        relative,
        source,
        pseudonymiser,
        response_window_seconds=config.response_window_seconds,
        force=force,
    )


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
    summary = Core5gIngestSummary(files_seen=1)
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    kind = source_kind(source.format)
    if not force and already_ingested(conn, source_path, digest):
        summary.files_unchanged = 1
        return summary

    text = decode_bytes(data)
    problem = encoding_error(data)
    if problem is not None:
        # The rows of an earlier version of the file are deleted below, as for any change.
        batch = _Batch(quarantined=[QuarantinedLine("file", problem, text)])
    else:
        try:
            batch = _parse(text, source_path, source, pseudonymiser, response_window_seconds)
        except SourceConfigError as exc:
            summary.failed_files[source_path] = str(exc)
            log.warning("core5g file %s not ingested: %s", source_path, exc)
            return summary
        if (reason := invalid_utf8(data)) is not None:
            batch.quarantined.append(QuarantinedLine("encoding", reason, data.decode("latin-1")))

    with conn.transaction():
        replaced_scrapes = _delete_file_rows(conn, source.format, source_path)
        if batch.scrape is not None:
            _insert_scrape(conn, batch, source_path, text)
        for table, (columns, rows) in batch.tables.items():
            summary.add_rows(table, copy_rows(conn, table, columns, rows))
        increases = 0
        for site_id, instance, scraped_at in replaced_scrapes:
            increases += _refresh_increases(conn, site_id, instance, scraped_at, None)
        if batch.scrape is not None:
            scrape = batch.scrape
            increases += _refresh_increases(
                conn, scrape.site_id, scrape.instance, scrape.scraped_at, scrape
            )
        if source.format == FORMAT_PROMETHEUS:
            summary.add_rows(INCREASES_TABLE, increases)
        summary.quarantined = _sync_quarantine(conn, kind, source_path, batch.quarantined)
        conn.execute(
            "DELETE FROM raw.ingested_files WHERE source_path = %s AND source_kind = %s",
            (source_path, kind),
        )
        record_ingested(conn, source_path, digest, kind, batch.record_count, len(batch.quarantined))
    summary.files_ingested = 1
    summary.orphan_outcomes = batch.orphan_outcomes
    log.info(
        "ingested %s (%s, site %s, %s): rows %s, %d lines quarantined",
        source_path,
        source.format,
        source.site_id,
        source.instance,
        summary.rows,
        len(batch.quarantined),
    )
    return summary


@dataclass
class _Batch:
    """Rows parsed from one file, by raw table."""

    tables: dict[str, tuple[Sequence[str], list[tuple]]] = field(default_factory=dict)
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    record_count: int = 0
    orphan_outcomes: int = 0
    scrape: Scrape | None = None


def _parse(
    text: str,
    source_path: str,
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    window: float,
) -> _Batch:
    batch = _Batch()
    lines = text.splitlines()
    if source.format == FORMAT_OPEN5GS_LOG and source.nf == "amf":
        parsed = parse_open5gs_amf_log(
            lines,
            source,
            pseudonymiser,
            collected_on=source.collection_date(source_path),
            response_window_seconds=window,
        )
        _add_attempts(batch, parsed, REGISTRATIONS_TABLE, REGISTRATION_COLUMNS, source_path)
    elif source.format == FORMAT_OPEN5GS_LOG:
        sessions = parse_open5gs_smf_log(
            lines,
            source,
            pseudonymiser,
            collected_on=source.collection_date(source_path),
            response_window_seconds=window,
        )
        _add_attempts(batch, sessions, PDU_SESSIONS_TABLE, PDU_SESSION_COLUMNS, source_path)
    elif source.format == FORMAT_FREE5GC_LOG:
        parsed = parse_free5gc_amf_log(lines, source, pseudonymiser, response_window_seconds=window)
        _add_attempts(batch, parsed, REGISTRATIONS_TABLE, REGISTRATION_COLUMNS, source_path)
    elif source.format == FORMAT_PROMETHEUS:
        scrape = parse_scrape(
            text, source, pseudonymiser, scraped_at=source.scrape_time(source_path)
        )
        batch.scrape = scrape
        batch.quarantined = scrape.quarantined
        batch.record_count = len(scrape.samples)
        batch.tables[SAMPLES_TABLE] = (SAMPLE_COLUMNS, _sample_rows(scrape, source_path))
    else:
        if source.format == FORMAT_CDR_JSON:
            cdrs = parse_chf_cdr_json(text, source, pseudonymiser)
        else:
            cdrs = parse_chf_cdr_csv(text, source, pseudonymiser)
        _add_cdrs(batch, cdrs, source_path)
    return batch


def _add_attempts(
    batch: _Batch,
    parsed: ParsedRegistrations | ParsedPduSessions,
    table: str,
    columns: Sequence[str],
    source_path: str,
) -> None:
    rows = _record_rows(parsed.attempts, columns, source_path)
    batch.tables[table] = (columns, rows)
    batch.quarantined.extend(parsed.quarantined)
    batch.record_count += len(rows)
    batch.orphan_outcomes += parsed.stats.orphan_outcomes


def _add_cdrs(batch: _Batch, parsed: ParsedCdrs, source_path: str) -> None:
    rows = _record_rows(parsed.containers, CDR_COLUMNS, source_path)
    batch.tables[CDRS_TABLE] = (CDR_COLUMNS, rows)
    batch.quarantined.extend(parsed.quarantined)
    batch.record_count += parsed.records


def _record_rows(records: Iterable, columns: Sequence[str], source_path: str) -> list[tuple]:
    """Build one COPY row per record in the order of ``columns``.

    Every column except ``source_path`` is the record's attribute of the same name, and
    ``source_path`` is the file's path. ``columns`` needs two or more other columns, so that
    ``attrgetter`` returns a tuple.
    """
    position = columns.index("source_path")
    read_fields = attrgetter(*(column for column in columns if column != "source_path"))
    return [
        (*values[:position], source_path, *values[position:])
        for values in map(read_fields, records)
    ]


def _sample_rows(scrape: Scrape, source_path: str) -> list[tuple]:
    return [
        (
            scrape.site_id,
            scrape.nf,
            scrape.instance,
            scrape.scraped_at,
            s.metric,
            s.metric_type,
            s.labels_key,
            json.dumps(dict(s.labels), sort_keys=True),
            s.value,
            s.value_text,
            s.quality,
            s.sample_timestamp_ms,
            scrape.process_start_time,
            scrape.event_date,
            source_path,
            s.line_number,
        )
        for s in scrape.samples
    ]


def copy_rows(
    conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]
) -> int:
    """Append rows to ``raw.<table>`` with COPY and return how many were written."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier("raw", table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _delete_file_rows(
    conn: psycopg.Connection, source_format: str, source_path: str
) -> list[tuple[str, str, datetime]]:
    """Delete the rows an earlier ingest of the file wrote and return the scrapes it removed."""
    removed: list[tuple[str, str, datetime]] = []
    if source_format == FORMAT_PROMETHEUS:
        removed = conn.execute(
            "SELECT site_id, instance, scraped_at FROM raw.nf_scrapes WHERE source_path = %s",
            (source_path,),
        ).fetchall()
    for table in _FORMAT_TABLES[source_format]:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE source_path = %s").format(sql.Identifier("raw", table)),
            (source_path,),
        )
    return removed


def _insert_scrape(conn: psycopg.Connection, batch: _Batch, source_path: str, text: str) -> None:
    """Insert the scrape's row, or quarantine the file (``text``) when another file has the
    same instance and scrape time."""
    scrape = batch.scrape
    other = conn.execute(
        "SELECT source_path FROM raw.nf_scrapes"
        " WHERE site_id = %s AND instance = %s AND scraped_at = %s",
        (scrape.site_id, scrape.instance, scrape.scraped_at),
    ).fetchone()
    if other is not None:
        batch.tables.pop(SAMPLES_TABLE, None)
        batch.scrape = None
        batch.quarantined.append(
            QuarantinedLine(
                "file",
                f"scrape of {scrape.instance} at {scrape.scraped_at.isoformat()} is already "
                f"loaded from {other[0]}: remove the duplicate file or fix its scrape time",
                text,
            )
        )
        return
    conn.execute(
        "INSERT INTO raw.nf_scrapes (site_id, nf, instance, nf_vendor, scraped_at,"
        " process_start_time, sample_count, event_date, source_path)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            scrape.site_id,
            scrape.nf,
            scrape.instance,
            scrape.vendor,
            scrape.scraped_at,
            scrape.process_start_time,
            len(scrape.samples),
            scrape.event_date,
            source_path,
        ),
    )


def _refresh_increases(
    conn: psycopg.Connection,
    site_id: str,
    instance: str,
    at: datetime,
    scrape: Scrape | None,
) -> int:
    """Recompute the increases of the intervals that touch the time ``at``.

    With ``scrape`` (the scrape now stored at ``at``) these are the intervals from the
    previous scrape to it and from it to the next one. Without it (a scrape removed from
    ``at``) it is the one interval from the previous scrape to the next.
    """
    conn.execute(
        "DELETE FROM raw.nf_counter_increases WHERE site_id = %s AND instance = %s"
        " AND interval_start <= %s AND interval_end >= %s",
        (site_id, instance, at, at),
    )
    previous = _neighbour_scrape(conn, site_id, instance, at, before=True)
    following = _neighbour_scrape(conn, site_id, instance, at, before=False)
    pairs = [(previous, scrape), (scrape, following)] if scrape else [(previous, following)]
    increases: list[CounterIncrease] = []
    for earlier, later in pairs:
        if earlier is not None and later is not None:
            increases.extend(counter_increases(earlier, later))
    return copy_rows(conn, INCREASES_TABLE, INCREASE_COLUMNS, _increase_rows(increases))


def _neighbour_scrape(
    conn: psycopg.Connection, site_id: str, instance: str, at: datetime, *, before: bool
) -> Scrape | None:
    query = (
        "SELECT scraped_at, nf, nf_vendor, process_start_time FROM raw.nf_scrapes"
        " WHERE site_id = %s AND instance = %s AND scraped_at {} %s"
        " ORDER BY scraped_at {} LIMIT 1"
    )
    operator, order = ("<", "DESC") if before else (">", "ASC")
    row = conn.execute(
        sql.SQL(query).format(sql.SQL(operator), sql.SQL(order)),
        (site_id, instance, at),
    ).fetchone()
    if row is None:
        return None
    scraped_at, nf, vendor, start_time = row
    rows = conn.execute(
        "SELECT metric, metric_type, labels_key, labels, value, value_text, quality,"
        " sample_timestamp_ms, line_number FROM raw.nf_metric_samples"
        " WHERE site_id = %s AND instance = %s AND scraped_at = %s",
        (site_id, instance, scraped_at),
    ).fetchall()
    samples = [
        ScrapeSample(
            metric=row[0],
            metric_type=row[1],
            labels_key=row[2],
            labels=tuple(sorted(row[3].items())),
            value=row[4],
            value_text=row[5],
            quality=row[6],
            sample_timestamp_ms=row[7],
            line_number=row[8],
        )
        for row in rows
    ]
    return Scrape(
        site_id=site_id,
        nf=nf,
        instance=instance,
        vendor=vendor,
        scraped_at=scraped_at,
        process_start_time=start_time,
        samples=samples,
        quarantined=[],
    )


def _increase_rows(increases: Iterable[CounterIncrease]) -> Iterable[tuple]:
    for i in increases:
        interval: datetime = i.interval_start
        yield (
            i.site_id,
            i.nf,
            i.instance,
            i.metric,
            i.labels_key,
            json.dumps(dict(i.labels), sort_keys=True),
            i.labels_key == "",
            interval,
            i.interval_end,
            (i.interval_end - interval).total_seconds(),
            i.start_value,
            i.end_value,
            i.increase,
            i.counter_reset,
            i.series_started,
            i.event_date,
        )


def _sync_quarantine(
    conn: psycopg.Connection, kind: str, source_path: str, lines: list[QuarantinedLine]
) -> int:
    records = [
        QuarantinedRecord(kind, source_path, line.location, line.reason, line.content)
        for line in lines
    ]
    return sync_quarantine(conn, source_path, (kind,), records)
