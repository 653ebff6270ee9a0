"""Versioned SQL migrations of the raw layer.

Each file ``migrations/NNNN_name.sql`` runs once, in its own transaction, and is recorded in
``raw.schema_migrations``. The files themselves only use ``IF NOT EXISTS`` forms, so applying
one twice (for example after restoring an old ``schema_migrations``) changes nothing.
"""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

# Serialises concurrent migrators (the Dagster daemon, the webserver, a test run).
_ADVISORY_LOCK_ID = 724_310_001


def migration_files() -> list[tuple[str, str]]:
    """Return ``(version, sql_text)`` of every migration, ordered by version."""
    folder = resources.files("deploy_manager.db") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def apply_migrations(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations that are not yet recorded; return the versions applied."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_ID,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM raw.schema_migrations")}
        for version, text in migration_files():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(text)
                conn.execute(
                    "INSERT INTO raw.schema_migrations (version) VALUES (%s)"
                    " ON CONFLICT DO NOTHING",
                    (version,),
                )
            applied_now.append(version)
            log.info("applied migration %s", version)
    return applied_now
