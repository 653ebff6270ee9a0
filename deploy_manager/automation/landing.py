"""Which landing sources are new or changed since their ingest, by fingerprint.

A source is what an ingest records in raw.ingested_files as one (source_path, sha256) row,
and its fingerprint is computed the way that ingest computes it:

- ``inventory/*`` and Ansible json/jsonl callback files (with their ``.meta.json`` sidecar):
  path relative to the landing folder, ``ingest.files.file_sha256``;
- ansible-runner artifact folders: the folder's relative path, ``ingest.files.folder_sha256``;
- any other file (device metrics, 5G core files): SHA-256 of the content, matched on the
  absolute path, the relative path, or a path that the relative path ends with. The last
  form is there because the 5G core ingest records paths relative to its own folder.

Configuration files are read by an ingest but are no sources of their own, so they are never
pending: ``core5g/sources.json`` and the golden configurations in ``devices/golden/``. A change
to the golden folder changes the fingerprint that the device ingest records for its backups.

A file inside a folder that an ingest records as a whole (device backups, for example) is
ingested when the folder's row is at least as new as the file. Files that no ingest records
stay pending, and the landing sensor's run key keeps them from starting more than one run.
Hashes are cached by (path, size, mtime), so an unchanged landing folder is not read again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from deploy_manager.ingest.files import file_sha256, folder_sha256
from deploy_manager.netops.sources.runner_artifacts import is_artifact_folder

log = logging.getLogger(__name__)

META_SUFFIX = ".meta.json"
CONFIGURATION_FILES = ("core5g/sources.json",)
CONFIGURATION_FOLDERS = ("devices/golden/",)
_hash_cache: dict[tuple, str] = {}
_HASH_CACHE_MAX = 200_000


@dataclass(frozen=True)
class LandingSource:
    """One ingest unit of the landing folder and its fingerprint."""

    source_path: str
    sha256: str
    kind: str
    newest_mtime: float
    absolute_path: str


def _cached(key: tuple, compute) -> str:
    digest = _hash_cache.get(key)
    if digest is None:
        if len(_hash_cache) >= _HASH_CACHE_MAX:
            _hash_cache.clear()
        digest = _hash_cache[key] = compute()
    return digest


def _stat_key(paths: list[Path]) -> tuple:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths if p.is_file())


def _content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _visible_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if path.is_file() and not any(part.startswith(".") for part in relative):
            yield path


def _artifact_folder(path: Path, ansible_dir: Path) -> Path | None:
    for parent in path.parents:
        if parent == ansible_dir or ansible_dir not in parent.parents:
            return None
        if is_artifact_folder(parent):
            return parent
    return None


def _is_sidecar(path: Path) -> bool:
    """Whether ``path`` is the ``<stem>.meta.json`` of a callback file ``<stem>.<ext>``."""
    if not path.name.endswith(META_SUFFIX):
        return False
    stem = path.name.removesuffix(META_SUFFIX)
    return any(not p.name.endswith(META_SUFFIX) for p in path.parent.glob(f"{stem}.*"))


def landing_sources(landing: Path) -> list[LandingSource]:
    """Return every source below ``landing`` with its fingerprint (see the module docstring)."""
    landing = landing.resolve()
    if not landing.is_dir():
        return []
    ansible_dir = landing / "ansible"
    sources: dict[str, LandingSource] = {}
    for path in _visible_files(landing):
        if path.name.endswith("-partial.json"):
            continue
        relative = path.relative_to(landing).as_posix()
        if relative in CONFIGURATION_FILES or relative.startswith(CONFIGURATION_FOLDERS):
            continue
        folder = _artifact_folder(path, ansible_dir) if ansible_dir in path.parents else None
        if folder is not None:
            unit = folder.relative_to(landing).as_posix()
            if unit not in sources:
                files = [p for p in _visible_files(folder) if not p.name.endswith("-partial.json")]
                sha = _cached(("folder", *_stat_key(files)), lambda f=folder: folder_sha256(f))
                newest = max(p.stat().st_mtime for p in files)
                sources[unit] = LandingSource(unit, sha, "ansible_runner", newest, str(folder))
            continue
        if _is_sidecar(path):
            continue
        if relative.startswith(("inventory/", "ansible/")):
            pair = [path]
            if relative.startswith("ansible/"):
                pair.append(path.with_name(path.name.rsplit(".", 1)[0] + META_SUFFIX))
            sha = _cached(("named", *_stat_key(pair)), lambda p=pair: file_sha256(*p))
            newest = max(p.stat().st_mtime for p in pair if p.is_file())
            sources[relative] = LandingSource(relative, sha, "netops", newest, str(path))
        else:
            sha = _cached(("content", *_stat_key([path])), lambda p=path: _content_sha256(p))
            sources[relative] = LandingSource(
                relative, sha, "other", path.stat().st_mtime, str(path)
            )
    return list(sources.values())


def _ingested(conn: psycopg.Connection) -> dict[str, list[tuple[str, datetime]]]:
    recorded: dict[str, list[tuple[str, datetime]]] = {}
    for path, sha, ingested_at in conn.execute(
        "SELECT source_path, sha256, ingested_at FROM raw.ingested_files"
    ):
        recorded.setdefault(path.rstrip("/"), []).append((sha, ingested_at))
    return recorded


def _is_ingested(
    source: LandingSource, landing: Path, recorded: dict[str, list[tuple[str, datetime]]]
) -> bool:
    names = {source.source_path, source.absolute_path}
    if source.kind == "other":
        parts = source.source_path.split("/")
        names |= {"/".join(parts[i:]) for i in range(1, len(parts))}
    if any(sha == source.sha256 for name in names for sha, _ in recorded.get(name, ())):
        return True
    # A file inside a folder that an ingest records as one unit, such as device backups.
    for folder in Path(source.source_path).parents:
        if folder.as_posix() == ".":
            break
        rows = recorded.get(folder.as_posix(), []) + recorded.get(str(landing / folder), [])
        if rows and max(at.timestamp() for _, at in rows) >= source.newest_mtime:
            return True
    return False


def pending_sources(
    conn: psycopg.Connection, landing: Path, settle_seconds: float, now: float | None = None
) -> list[LandingSource]:
    """Return the sources not ingested with their current content, leaving out those modified
    in the last ``settle_seconds`` seconds, which may still be being written."""
    now = time.time() if now is None else now
    recorded = _ingested(conn)
    pending = [
        source
        for source in landing_sources(landing)
        if not _is_ingested(source, landing.resolve(), recorded)
        and now - source.newest_mtime >= settle_seconds
    ]
    log.info("landing %s: %d sources pending ingest", landing, len(pending))
    return sorted(pending, key=lambda s: s.source_path)


def pending_run_key(pending: list[LandingSource]) -> str:
    """Return a run key that is the same for the same pending sources and contents."""
    digest = hashlib.sha256()
    for source in pending:
        digest.update(f"{source.source_path}\0{source.sha256}\n".encode())
    return f"landing-{digest.hexdigest()[:24]}"
