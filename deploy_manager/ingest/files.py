"""Fingerprints of landing files, so a file or folder already ingested unchanged is skipped."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import psycopg


def file_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_folder(folder: Path) -> tuple[str, dict[str, bytes]]:
    """Read every file below ``folder`` once: its fingerprint (relative paths and contents,
    ansible-runner's ``*-partial.json`` excluded) and the contents by relative path."""
    digest = hashlib.sha256()
    contents: dict[str, bytes] = {}
    base = len(str(folder)) + 1
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            if name.endswith("-partial.json"):
                continue
            path = os.path.join(root, name)
            relative = path[base:]
            with open(path, "rb") as handle:
                data = handle.read()
            digest.update(relative.encode())
            digest.update(b"\0")
            digest.update(data)
            contents[relative] = data
    return digest.hexdigest(), contents


def folder_sha256(folder: Path) -> str:
    """Fingerprint of a folder, as read_folder computes it."""
    return read_folder(folder)[0]


def ingested_fingerprints(conn: psycopg.Connection, source_kind: str) -> set[tuple[str, str]]:
    """Return every (source_path, sha256) already ingested for ``source_kind``, so a large
    landing folder is checked with one query instead of one per file."""
    rows = conn.execute(
        "SELECT source_path, sha256 FROM raw.ingested_files WHERE source_kind = %s",
        (source_kind,),
    )
    return {(path, sha) for path, sha in rows}


def fingerprints_of(conn: psycopg.Connection, source_paths: list[str]) -> set[tuple[str, str]]:
    """Return every (source_path, sha256) already ingested for one of ``source_paths``, of
    any source kind as already_ingested checks, with one query."""
    rows = conn.execute(
        "SELECT source_path, sha256 FROM raw.ingested_files WHERE source_path = ANY(%s)",
        (source_paths,),
    )
    return {(path, sha) for path, sha in rows}


def already_ingested(conn: psycopg.Connection, source_path: str, sha256: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM raw.ingested_files WHERE source_path = %s AND sha256 = %s",
        (source_path, sha256),
    ).fetchone()
    return row is not None


def record_ingested(
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
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source_path, sha256) DO UPDATE SET"
        " record_count = EXCLUDED.record_count, quarantined = EXCLUDED.quarantined,"
        " ingested_at = now()",
        (source_path, sha256, source_kind, record_count, quarantined),
    )


def replace_ingested(conn: psycopg.Connection, files: list[tuple[str, str, str, int, int]]) -> None:
    """Record many ingested files at once, each as (source_path, sha256, source_kind,
    record_count, quarantined), in place of the rows of the same path and kind."""
    if not files:
        return
    paths, digests, kinds, records, quarantined = (list(c) for c in zip(*files, strict=True))
    conn.execute(
        "DELETE FROM raw.ingested_files AS f USING unnest(%s::text[], %s::text[]) AS d(path, kind)"
        " WHERE f.source_path = d.path AND f.source_kind = d.kind",
        (paths, kinds),
    )
    conn.execute(
        "INSERT INTO raw.ingested_files"
        " (source_path, sha256, source_kind, record_count, quarantined)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::integer[], %s::integer[])"
        " ON CONFLICT (source_path, sha256) DO UPDATE SET"
        " record_count = EXCLUDED.record_count, quarantined = EXCLUDED.quarantined,"
        " ingested_at = now()",
        (paths, digests, kinds, records, quarantined),
    )
