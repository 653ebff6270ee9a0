"""Fingerprints of landing files, so a file or folder already ingested unchanged is skipped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg


def file_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def folder_sha256(folder: Path) -> str:
    """Hash every file below ``folder`` by relative path and content (partial events excluded)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.endswith("-partial.json"):
            continue
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


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
