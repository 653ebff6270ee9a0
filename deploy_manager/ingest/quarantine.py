"""The quarantine: input that could not be parsed or placed, kept whole with the reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg

from deploy_manager.ingest.text import clean_text


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
            [
                (
                    r.source_kind,
                    r.source_path,
                    r.location,
                    clean_text(r.reason),
                    clean_text(r.content) or "",
                    hashlib.sha256((r.content or "").encode("utf-8", "replace")).hexdigest(),
                )
                for r in records
            ],
        )
    after = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
    return after - before
