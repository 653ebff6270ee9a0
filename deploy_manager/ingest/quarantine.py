"""The quarantine: input that could not be parsed or placed, kept whole with the reason."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from deploy_manager.ingest.text import clean_text, invalid_utf8


@dataclass(frozen=True)
class QuarantinedRecord:
    """A rejected piece of input: where it came from, why, and its original text."""

    source_kind: str
    source_path: str
    location: str
    reason: str
    content: str


def write_quarantine(conn: psycopg.Connection, records: list[QuarantinedRecord]) -> int:
    """Insert records into raw.quarantine; a record already there (same place and content) is
    kept once. Returns how many rows were new."""
    if not records:
        return 0
    before = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO raw.quarantine"
            " (source_kind, source_path, location, reason, content, content_sha256)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (source_path, location, content_sha256) DO NOTHING",
            [_quarantine_row(r) for r in records],
        )
    after = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
    return after - before


def _content_sha256(content: str | None) -> str:
    return hashlib.sha256((content or "").encode("utf-8", "replace")).hexdigest()


def _quarantine_row(record: QuarantinedRecord) -> tuple[str, str, str, str | None, str, str]:
    """Return the column values of raw.quarantine for ``record``, in the order of
    (source_kind, source_path, location, reason, content, content_sha256)."""
    return (
        record.source_kind,
        record.source_path,
        record.location,
        clean_text(record.reason),
        clean_text(record.content) or "",
        _content_sha256(record.content),
    )


def sync_quarantine(
    conn: psycopg.Connection,
    source_path: str,
    kinds: tuple[str, ...],
    records: list[QuarantinedRecord],
) -> int:
    """Replace the rows of one source in raw.quarantine with ``records`` and return how many
    rows were new. Rows that stay keep their id and time, so a re-ingest changes nothing, and rows
    of input that was since fixed are deleted."""
    current = {(r.location, _content_sha256(r.content)) for r in records}
    stale = [
        row_id
        for row_id, location, content_sha in conn.execute(
            "SELECT id, location, content_sha256 FROM raw.quarantine"
            " WHERE source_path = %s AND source_kind = ANY(%s)",
            (source_path, list(kinds)),
        )
        if (location, content_sha) not in current
    ]
    if stale:
        conn.execute("DELETE FROM raw.quarantine WHERE id = ANY(%s)", (stale,))
    return write_quarantine(conn, records)


def sync_quarantine_sources(
    conn: psycopg.Connection,
    sources: Iterable[tuple[str, str]],
    records: list[QuarantinedRecord],
) -> int:
    """Replace the raw.quarantine rows of many sources with ``records`` and return how many
    rows were new.

    Each source is a (source_path, source_kind) pair, and its rows are replaced as
    sync_quarantine replaces them, by three statements for all sources together.
    """
    sources = set(sources)
    if not sources:
        return 0
    current = {(r.source_path, r.location, _content_sha256(r.content)) for r in records}
    stale = [
        row_id
        for row_id, source_path, kind, location, content_sha in conn.execute(
            "SELECT id, source_path, source_kind, location, content_sha256 FROM raw.quarantine"
            " WHERE source_path = ANY(%s)",
            (list({path for path, _ in sources}),),
        )
        if (source_path, kind) in sources and (source_path, location, content_sha) not in current
    ]
    if stale:
        conn.execute("DELETE FROM raw.quarantine WHERE id = ANY(%s)", (stale,))
    if not records:
        return 0
    columns = list(zip(*map(_quarantine_row, records), strict=True))
    inserted = conn.execute(
        "INSERT INTO raw.quarantine"
        " (source_kind, source_path, location, reason, content, content_sha256)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
        " %s::text[])"
        " ON CONFLICT (source_path, location, content_sha256) DO NOTHING RETURNING id",
        [list(column) for column in columns],
    ).fetchall()
    return len(inserted)


def invalid_utf8_records(
    kind: str, source_path: str, files: dict[str, bytes]
) -> list[QuarantinedRecord]:
    """Flag the files that are not valid UTF-8 (``files`` maps a name inside the source, or "",
    to its bytes). Their rows are still stored, with U+FFFD in place of the invalid bytes, and
    the quarantine keeps the file read as Latin-1, so no byte is lost."""
    records = []
    for name, data in sorted(files.items()):
        reason = invalid_utf8(data)
        if reason is not None:
            location = f"{name} encoding" if name else "encoding"
            records.append(
                QuarantinedRecord(kind, source_path, location, reason, data.decode("latin-1"))
            )
    return records
