"""The raw tables of the 5G core ingest: names, COPY column orders and row builders."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from operator import attrgetter

import psycopg
from psycopg import sql

# NOTE: psycopg does not export its row formatter, the one Copy.write_row uses (in C when
# psycopg[binary] is installed); it is imported from its module.
from psycopg._copy_base import format_row_text
from psycopg.adapt import Transformer

from deploy_manager.core5g.sources.config import (
    FORMAT_CDR_CSV,
    FORMAT_CDR_JSON,
    FORMAT_FREE5GC_LOG,
    FORMAT_OPEN5GS_LOG,
    FORMAT_PROMETHEUS,
)
from deploy_manager.core5g.sources.prometheus import CounterIncrease, Scrape

REGISTRATIONS_TABLE = "amf_registration_attempts"
PDU_SESSIONS_TABLE = "pdu_session_attempts"
SCRAPES_TABLE = "nf_scrapes"
SAMPLES_TABLE = "nf_metric_samples"
INCREASES_TABLE = "nf_counter_increases"
CDRS_TABLE = "chf_cdrs"

# Every table a file's rows go to, by format (raw.nf_counter_increases is refreshed apart).
FORMAT_TABLES: dict[str, tuple[str, ...]] = {
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

SCRAPE_COLUMNS = (
    "site_id",
    "nf",
    "instance",
    "nf_vendor",
    "scraped_at",
    "process_start_time",
    "sample_count",
    "event_date",
    "source_path",
)


def record_rows(records: Iterable, columns: Sequence[str], source_path: str) -> list[tuple]:
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


@lru_cache(maxsize=65_536)
def labels_json(labels: tuple[tuple[str, str], ...]) -> str:
    """Return the JSON object of a label set with sorted keys. The few label sets of an
    instance repeat in every scrape, so the text is cached."""
    return json.dumps(dict(labels), sort_keys=True)


def sample_rows(scrape: Scrape, source_path: str) -> list[tuple]:
    return [
        (
            scrape.site_id,
            scrape.nf,
            scrape.instance,
            scrape.scraped_at,
            s.metric,
            s.metric_type,
            s.labels_key,
            labels_json(s.labels),
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
    """Append rows to ``raw.<table>`` with COPY and return how many were written.

    The rows are encoded first, with the value types encode_rows accepts, and sent as one
    block.
    """
    return copy_encoded(conn, table, [encode_rows(columns, rows)])


@dataclass(frozen=True)
class CopyData:
    """Rows of one raw table encoded in the text format of PostgreSQL's COPY."""

    columns: Sequence[str]
    data: bytes
    rows: int


# The value types the row builders produce.
_COPY_TYPES = frozenset({str, int, float, bool, datetime, date, type(None)})


def encode_rows(columns: Sequence[str], rows: Iterable[tuple]) -> CopyData:
    """Encode rows for ``COPY ... FROM STDIN`` in the text format, as Copy.write_row does.

    The values are those copy_rows accepts from the row builders: str, int, float, bool,
    datetime, date and None. Encoding where the rows are parsed lets a parse worker send
    bytes instead of Python objects. Raises TypeError for a value of another type.
    """
    allowed = _COPY_TYPES.issuperset
    transformer = Transformer()
    out = bytearray()
    count = 0
    for row in rows:
        if not allowed(map(type, row)):
            unknown = next(type(value) for value in row if type(value) not in _COPY_TYPES)
            raise TypeError(
                f"value of type {unknown.__name__} has no COPY text encoding: convert it in the"
                " row builder or add its type to _COPY_TYPES"
            )
        format_row_text(row, transformer, out)
        count += 1
    return CopyData(columns, bytes(out), count)


def copy_encoded(conn: psycopg.Connection, table: str, parts: Sequence[CopyData]) -> int:
    """Append encoded rows with the columns of ``parts[0]`` to ``raw.<table>`` with one COPY
    and return how many were written."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier("raw", table), sql.SQL(", ").join(map(sql.Identifier, parts[0].columns))
    )
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for part in parts:
            copy.write(part.data)
    return sum(part.rows for part in parts)


def increase_rows(increases: Iterable[CounterIncrease]) -> Iterable[tuple]:
    for i in increases:
        interval: datetime = i.interval_start
        yield (
            i.site_id,
            i.nf,
            i.instance,
            i.metric,
            i.labels_key,
            labels_json(i.labels),
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
