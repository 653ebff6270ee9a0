"""Parse one 5G core landing file into rows of the raw tables, without database access, so
files can be parsed in any process and written many to a transaction."""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from deploy_manager.core5g.sources import ParsedPduSessions, ParsedRegistrations, QuarantinedLine
from deploy_manager.core5g.sources.cdr import ParsedCdrs, parse_chf_cdr_csv, parse_chf_cdr_json
from deploy_manager.core5g.sources.config import (
    FORMAT_CDR_JSON,
    FORMAT_FREE5GC_LOG,
    FORMAT_OPEN5GS_LOG,
    FORMAT_PROMETHEUS,
    SourceConfig,
    SourceConfigError,
)
from deploy_manager.core5g.sources.free5gc_log import parse_free5gc_amf_log
from deploy_manager.core5g.sources.open5gs_log import parse_open5gs_amf_log, parse_open5gs_smf_log
from deploy_manager.core5g.sources.prometheus import Scrape, parse_scrape
from deploy_manager.core5g.tables import (
    CDR_COLUMNS,
    CDRS_TABLE,
    PDU_SESSION_COLUMNS,
    PDU_SESSIONS_TABLE,
    REGISTRATION_COLUMNS,
    REGISTRATIONS_TABLE,
    SAMPLE_COLUMNS,
    SAMPLES_TABLE,
    CopyData,
    encode_rows,
    record_rows,
    sample_rows,
)
from deploy_manager.ingest.pseudonymise import Pseudonymiser
from deploy_manager.ingest.text import read_text

# Parse worker processes are started only when the files waiting to be parsed reach this
# size, so that a small ingest does not pay for starting them.
PARALLEL_MIN_BYTES = 8_000_000
# A task of a parse worker: files up to this size together, so small scrapes share one task.
_TASK_BYTES = 1_000_000
_TASK_FILES = 64

# (data, sha256, source_path, source entry) of one file to parse.
ParseJob = tuple[bytes, str, str, SourceConfig]


@dataclass
class ParsedFile:
    """Rows parsed from one landing file, encoded by raw table, and what its ingest records."""

    source_path: str
    source: SourceConfig
    sha256: str
    tables: dict[str, CopyData] = field(default_factory=dict)
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    record_count: int = 0
    orphan_outcomes: int = 0
    scrape: Scrape | None = None
    # The text of a scrape file, which is quarantined whole when its scrape is a duplicate.
    text: str = ""
    # Why the file's source entry cannot be applied to it; such a file writes nothing.
    failure: str | None = None

    @property
    def row_count(self) -> int:
        return sum(data.rows for data in self.tables.values())


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_landing_file(
    data: bytes,
    sha256: str,
    source_path: str,
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    window: float,
) -> ParsedFile:
    """Parse the content ``data`` of one file with its source entry.

    A file that is not UTF-8 text at all is quarantined whole and writes no rows, so the rows
    of its earlier version are deleted. A SourceConfigError sets ``failure`` instead.
    """
    parsed = ParsedFile(source_path, source, sha256)
    text, problem, invalid = read_text(data)
    if problem is not None:
        parsed.quarantined.append(QuarantinedLine("file", problem, text))
        return parsed
    try:
        _parse(parsed, text, source_path, source, pseudonymiser, window)
    except SourceConfigError as exc:
        return ParsedFile(source_path, source, sha256, failure=str(exc))
    if parsed.scrape is not None:
        parsed.text = text
    if invalid is not None:
        parsed.quarantined.append(QuarantinedLine("encoding", invalid, data.decode("latin-1")))
    return parsed


def _parse(
    result: ParsedFile,
    text: str,
    source_path: str,
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    window: float,
) -> None:
    lines = text.splitlines()
    if source.format == FORMAT_OPEN5GS_LOG and source.nf == "amf":
        parsed = parse_open5gs_amf_log(
            lines,
            source,
            pseudonymiser,
            collected_on=source.collection_date(source_path),
            response_window_seconds=window,
        )
        _add_attempts(result, parsed, REGISTRATIONS_TABLE, REGISTRATION_COLUMNS, source_path)
    elif source.format == FORMAT_OPEN5GS_LOG:
        sessions = parse_open5gs_smf_log(
            lines,
            source,
            pseudonymiser,
            collected_on=source.collection_date(source_path),
            response_window_seconds=window,
        )
        _add_attempts(result, sessions, PDU_SESSIONS_TABLE, PDU_SESSION_COLUMNS, source_path)
    elif source.format == FORMAT_FREE5GC_LOG:
        parsed = parse_free5gc_amf_log(lines, source, pseudonymiser, response_window_seconds=window)
        _add_attempts(result, parsed, REGISTRATIONS_TABLE, REGISTRATION_COLUMNS, source_path)
    elif source.format == FORMAT_PROMETHEUS:
        scrape = parse_scrape(
            text, source, pseudonymiser, scraped_at=source.scrape_time(source_path)
        )
        result.scrape = scrape
        result.quarantined = scrape.quarantined
        result.record_count = len(scrape.samples)
        result.tables[SAMPLES_TABLE] = encode_rows(SAMPLE_COLUMNS, sample_rows(scrape, source_path))
    else:
        if source.format == FORMAT_CDR_JSON:
            cdrs = parse_chf_cdr_json(text, source, pseudonymiser)
        else:
            cdrs = parse_chf_cdr_csv(text, source, pseudonymiser)
        _add_cdrs(result, cdrs, source_path)


def _add_attempts(
    result: ParsedFile,
    parsed: ParsedRegistrations | ParsedPduSessions,
    table: str,
    columns: Sequence[str],
    source_path: str,
) -> None:
    rows = record_rows(parsed.attempts, columns, source_path)
    result.tables[table] = encode_rows(columns, rows)
    result.quarantined.extend(parsed.quarantined)
    result.record_count += len(rows)
    result.orphan_outcomes += parsed.stats.orphan_outcomes


def _add_cdrs(result: ParsedFile, parsed: ParsedCdrs, source_path: str) -> None:
    rows = record_rows(parsed.containers, CDR_COLUMNS, source_path)
    result.tables[CDRS_TABLE] = encode_rows(CDR_COLUMNS, rows)
    result.quarantined.extend(parsed.quarantined)
    result.record_count += parsed.records


def parse_processes() -> int:
    """Return how many worker processes parse files: one per CPU, at most 4, or 0 to parse in
    this process.

    Workers are forked, and a fork is safe only while this process runs a single thread,
    because it copies locks that other threads may hold. So this returns 0 when other threads
    run, on one CPU, and inside a daemon process, which cannot start children.
    """
    # NOTE: measured on 2 CPUs only. With more, the single process writing to PostgreSQL
    # may become the limit, hence the cap.
    cpus = os.cpu_count() or 1
    if cpus < 2 or threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return 0
    return min(cpus, 4)


def parse_files(
    jobs: Iterable[ParseJob], pseudonymiser: Pseudonymiser, window: float, processes: int
) -> Iterator[ParsedFile]:
    """Parse files in the order of ``jobs`` and yield them in that order.

    Once the files read ahead reach PARALLEL_MIN_BYTES, and ``processes`` is above 0, the rest
    are parsed in that many worker processes, with a bounded number of tasks in flight so
    that memory does not grow with the landing folder.
    """
    iterator = iter(jobs)
    waiting: list[ParseJob] = []
    waiting_bytes = 0
    for job in iterator:
        waiting.append(job)
        waiting_bytes += len(job[0])
        if processes and waiting_bytes >= PARALLEL_MIN_BYTES:
            yield from _parse_in_workers(waiting, iterator, pseudonymiser, window, processes)
            return
    for data, sha256, source_path, source in waiting:
        yield parse_landing_file(data, sha256, source_path, source, pseudonymiser, window)


def _parse_in_workers(
    first: list[ParseJob],
    rest: Iterator[ParseJob],
    pseudonymiser: Pseudonymiser,
    window: float,
    processes: int,
) -> Iterator[ParsedFile]:
    # fork, because a spawned worker imports the package (Dagster included) anew, which took
    # about 1 s of CPU time per worker on a 2-core machine. parse_processes() returns 0 where
    # fork is unsafe.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        processes,
        mp_context=context,
        initializer=_start_worker,
        initargs=(pseudonymiser, window),
    ) as pool:
        in_flight: deque[Future[list[ParsedFile]]] = deque()
        for task in _tasks(first, rest):
            in_flight.append(pool.submit(_parse_task, task))
            while len(in_flight) > 2 * processes:
                yield from in_flight.popleft().result()
        while in_flight:
            yield from in_flight.popleft().result()


def _tasks(first: list[ParseJob], rest: Iterator[ParseJob]) -> Iterator[list[ParseJob]]:
    task: list[ParseJob] = []
    size = 0
    for job in itertools.chain(first, rest):
        task.append(job)
        size += len(job[0])
        if size >= _TASK_BYTES or len(task) >= _TASK_FILES:
            yield task
            task, size = [], 0
    if task:
        yield task


_worker_state: tuple[Pseudonymiser, float] | None = None


def _start_worker(pseudonymiser: Pseudonymiser, window: float) -> None:
    global _worker_state
    _worker_state = (pseudonymiser, window)


def _parse_task(task: list[ParseJob]) -> list[ParsedFile]:
    pseudonymiser, window = _worker_state
    return [
        parse_landing_file(data, sha256, source_path, source, pseudonymiser, window)
        for data, sha256, source_path, source in task
    ]
