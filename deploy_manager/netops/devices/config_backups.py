"""Configuration backups, golden configurations and device roles, read from files.

Backups come in one of two layouts:

- Collection folders: ``<root>/<collection>/<file>``, one folder per collection run,
  named by its UTC start time, for example ``backups/2026-11-02T0300Z/edge-r1.site104.cfg``.
  Oxidized's file output keeps only the latest configuration of each device, so such
  folders come from a scheduled copy of a backup tool's output folder. Accepted names are
  ``YYYY-MM-DDTHHMM[SS]Z``, ``YYYYMMDDTHHMM[SS]Z`` and ISO 8601 with colons, with ``Z`` or
  an offset. Text before the time is allowed (``daily-2026-11-02T0300Z``). Files may sit in
  group sub-folders. When ``<root>`` itself carries a time in its name, it is read as one
  collection.
- A git repository of such files, work tree or bare, as Oxidized's git output writes it
  (one file per device, in a folder per group with ``single_repo``). Each commit on the
  first-parent history is read at its committer time, and every file that the commit adds
  or modifies is a backup of its device. A file that a commit did not touch is unchanged,
  so it gives no new backup.

The device is the file name without a ``.cfg`` or ``.conf`` suffix (RANCID writes no
suffix). Hidden files and folders are skipped.

Golden configurations live in one folder, ``<golden_dir>/<role>.cfg``. A golden file may
use the placeholders ``{{ device }}`` (the inventory host name), ``{{ hostname }}`` (the
host name up to its first dot) and ``{{ site_id }}``, which are replaced per device
before the comparison. The device's role comes from a CSV file, by default
``<golden_dir>/roles.csv``, with the header ``device,role``. Its device column is an exact
host name or a shell pattern such as ``edge-r*``. An exact name wins over a pattern, and
among patterns the first in the file wins.
"""

from __future__ import annotations

import csv
import fnmatch
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from deploy_manager.ingest.text import decode_bytes, encoding_error

log = logging.getLogger(__name__)

FOLDER = "folder"
GIT = "git"

_DEVICE_SUFFIXES = (".cfg", ".conf")
_SKIPPED_NAMES = {"CVS"}
_COLLECTION_TIME = re.compile(
    r"(?P<year>\d{4})-?(?P<month>\d{2})-?(?P<day>\d{2})[T_ ]?"
    r"(?P<hour>\d{2}):?(?P<minute>\d{2})(?::?(?P<second>\d{2}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_GOLDEN_VARIABLES = ("device", "hostname", "site_id")
# Symbolic links and submodules are not backups.
_REGULAR_FILE_MODES = ("100644", "100755")
# Blobs are read from git in batches, so one cat-file output never contains the whole history.
_GIT_BATCH = 500


@dataclass(frozen=True)
class BackupFile:
    """One configuration backup: the device, when it was taken, its text and its origin.

    ``source_path`` is the file path for a folder backup and the path inside the
    repository for a git backup, where ``source_commit`` names the commit.
    """

    device: str
    backup_time: datetime
    content: str
    source: str
    source_root: str
    source_path: str
    source_commit: str | None = None


@dataclass(frozen=True)
class RejectedBackup:
    """A backup file or collection that could not be read, with the reason."""

    source_path: str
    location: str
    reason: str
    content: str


class BackupSourceError(ValueError):
    """A backup folder or repository that cannot be read at all."""


def device_from_filename(name: str) -> str:
    lowered = name.lower()
    for suffix in _DEVICE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def parse_collection_time(name: str) -> datetime | None:
    """Return the UTC time in a collection folder name, or None when it contains no time.

    Raise ValueError when the name has a time but no ``Z`` or offset.
    """
    match = _COLLECTION_TIME.search(name)
    if match is None:
        return None
    if match["zone"] is None:
        raise ValueError(
            f"collection folder {name!r} has a time without UTC offset: end the name with Z "
            "or an offset, as in 2026-11-02T0300Z"
        )
    zone = match["zone"]
    if zone == "Z":
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        local = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise ValueError(
            f"collection folder {name!r} contains an invalid date or time: use a real UTC "
            "time, as in 2026-11-02T0300Z"
        ) from exc
    return local.astimezone(UTC)


def is_git_repository(path: Path) -> bool:
    """Return True for a git work tree (with ``.git``) or a bare repository."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _visible_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in _SKIPPED_NAMES
        )
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


def read_backup_folder(root: Path) -> Iterator[BackupFile | RejectedBackup]:
    """Read every backup below ``root``, collection by collection in time order."""
    root = root.resolve()
    if not root.is_dir():
        raise BackupSourceError(
            f"backup folder {str(root)!r} does not exist: pass the parent folder of the "
            "collection folders"
        )
    try:
        root_time = parse_collection_time(root.name)
    except ValueError:
        root_time = None
    if root_time is not None:
        collections = [(root, root_time)]
    else:
        collections = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if folder.name.startswith(".") or folder.name in _SKIPPED_NAMES:
                continue
            try:
                when = parse_collection_time(folder.name)
            except ValueError as exc:
                yield RejectedBackup(str(folder), "collection folder", str(exc), folder.name)
                continue
            if when is None:
                yield RejectedBackup(
                    str(folder),
                    "collection folder",
                    f"collection folder {folder.name!r} contains no time: name it by the "
                    "collection's start time, as in 2026-11-02T0300Z",
                    folder.name,
                )
                continue
            collections.append((folder, when))
    for folder, when in sorted(collections, key=lambda item: (item[1], item[0].name)):
        yield from _read_collection(root, folder, when)


def _read_collection(
    root: Path, folder: Path, when: datetime
) -> Iterator[BackupFile | RejectedBackup]:
    seen: dict[str, Path] = {}
    for path in _visible_files(folder):
        device = device_from_filename(path.name)
        data = path.read_bytes()
        content = decode_bytes(data)
        if (problem := encoding_error(data)) is not None:
            yield _not_text_backup(str(path), "file", device, problem, content)
            continue
        if device in seen:
            yield RejectedBackup(
                str(path),
                "file",
                f"device {device!r} has a second backup in collection {folder.name!r} (first "
                f"{str(seen[device])!r}): keep one file per device in each collection",
                content,
            )
            continue
        seen[device] = path
        if not content.strip():
            yield _empty_backup(str(path), device)
            continue
        yield BackupFile(device, when, content, FOLDER, str(root), str(path))


def _not_text_backup(
    source_path: str, location: str, device: str, problem: str, content: str
) -> RejectedBackup:
    # NOTE: a binary file's quarantine content is its bytes decoded as UTF-8 with U+FFFD, so
    # it is not byte-exact. The original stays in the backup folder or repository.
    return RejectedBackup(
        source_path,
        location,
        f"backup of device {device!r} is not a text configuration, so it is not compared: "
        f"{problem}",
        content,
    )


def _empty_backup(source_path: str, device: str) -> RejectedBackup:
    return RejectedBackup(
        source_path,
        "file",
        f"backup of device {device!r} is empty: the backup tool failed to fetch the "
        "configuration; check its log for this device",
        "",
    )


@dataclass(frozen=True)
class _GitChange:
    commit: str
    committed_at: datetime
    path: str
    blob: str


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    command = ["git", "-C", str(repo), *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise BackupSourceError(
            "the git command was not found: install git to read backup repositories"
        ) from exc
    if done.returncode != 0:
        message = decode_bytes(done.stderr).strip()
        raise BackupSourceError(
            f"git {' '.join(args[:2])} failed in {str(repo)!r} (exit {done.returncode}): {message}"
        )
    return done.stdout


def _git_changes(repo: Path) -> list[_GitChange]:
    """List every file added or modified per first-parent commit, oldest commit first."""
    if not _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip():
        return []
    output = _git(
        repo,
        "log",
        "--reverse",
        "--first-parent",
        "-m",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "-z",
        "--format=commit %H %ct",
    )
    changes: list[_GitChange] = []
    tokens = iter(output.split(b"\0"))
    commit, committed_at = "", datetime.min
    for token in tokens:
        text = token.decode("utf-8", "surrogateescape").lstrip("\n")
        if text.startswith(":"):
            path = next(tokens).decode("utf-8", "surrogateescape")
            meta = text[1:].split()
            new_mode, new_blob, status = meta[1], meta[3], meta[4]
            if status[0] in ("A", "M", "T") and new_mode in _REGULAR_FILE_MODES:
                changes.append(_GitChange(commit, committed_at, path, new_blob))
        elif text.startswith("commit "):
            _, commit, seconds = text.split()
            committed_at = datetime.fromtimestamp(int(seconds), tz=UTC)
    return changes


def _read_blobs(repo: Path, blobs: list[str]) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for start in range(0, len(blobs), _GIT_BATCH):
        batch = blobs[start : start + _GIT_BATCH]
        output = _git(repo, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in batch).encode())
        position = 0
        for blob in batch:
            header_end = output.index(b"\n", position)
            header = output[position:header_end].decode().split()
            if len(header) != 3:
                raise BackupSourceError(f"git cat-file could not read blob {blob} in {repo}")
            size = int(header[2])
            contents[blob] = output[header_end + 1 : header_end + 1 + size]
            position = header_end + 1 + size + 1
    return contents


def read_backup_git(repo: Path) -> Iterator[BackupFile | RejectedBackup]:
    """Read every backup in the first-parent history of ``repo``, oldest commit first."""
    repo = repo.resolve()
    if not is_git_repository(repo):
        raise BackupSourceError(
            f"{str(repo)!r} is not a git repository: pass the repository's work tree or a "
            "bare repository"
        )
    changes = [
        c
        for c in _git_changes(repo)
        if not any(part.startswith(".") or part in _SKIPPED_NAMES for part in c.path.split("/"))
    ]
    log.info("found %d changed files in the history of %s", len(changes), repo)
    for start in range(0, len(changes), _GIT_BATCH):
        batch = changes[start : start + _GIT_BATCH]
        contents = _read_blobs(repo, sorted({c.blob for c in batch}))
        seen: set[tuple[str, str]] = set()
        for change in batch:
            device = device_from_filename(change.path.rsplit("/", 1)[-1])
            content = decode_bytes(contents[change.blob])
            location = f"commit {change.commit}"
            if (problem := encoding_error(contents[change.blob])) is not None:
                yield _not_text_backup(f"{repo}:{change.path}", location, device, problem, content)
                continue
            if (change.commit, device) in seen:
                yield RejectedBackup(
                    f"{repo}:{change.path}",
                    location,
                    f"device {device!r} has a second file in commit {change.commit}: keep "
                    "one file per device in the repository",
                    content,
                )
                continue
            seen.add((change.commit, device))
            if not content.strip():
                yield _empty_backup(f"{repo}:{change.path}", device)
                continue
            yield BackupFile(
                device, change.committed_at, content, GIT, str(repo), change.path, change.commit
            )


def read_backups(source: Path, layout: str = "auto") -> Iterator[BackupFile | RejectedBackup]:
    """Read backups from a collection folder tree or a git repository.

    ``layout`` is ``folder``, ``git`` or ``auto``, which picks git when ``source`` is a
    repository.
    """
    if layout not in ("auto", FOLDER, GIT):
        raise ValueError(f"backup layout {layout!r} is invalid: use 'auto', 'folder' or 'git'")
    if layout == GIT or (layout == "auto" and is_git_repository(source)):
        return read_backup_git(source)
    return read_backup_folder(source)


@dataclass(frozen=True)
class RoleMap:
    """Device roles from the roles CSV: exact host names and shell patterns."""

    exact: dict[str, str]
    patterns: tuple[tuple[str, str], ...]
    source_path: str | None = None

    @classmethod
    def empty(cls) -> RoleMap:
        return cls({}, ())

    @classmethod
    def load(cls, path: Path) -> RoleMap:
        """Read a ``device,role`` CSV. Raise ValueError naming the line of a bad row."""
        exact: dict[str, str] = {}
        patterns: list[tuple[str, str]] = []
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            if reader.fieldnames is None or not {"device", "role"} <= set(reader.fieldnames):
                raise ValueError(
                    f"roles file {str(path)!r} must start with the header 'device,role'"
                )
            for row in reader:
                device = (row.get("device") or "").strip()
                role = (row.get("role") or "").strip()
                if not device or not _ROLE_NAME.match(role):
                    raise ValueError(
                        f"roles file {str(path)!r} line {reader.line_num}: device {device!r} "
                        f"with role {role!r} is invalid: give a host name or pattern and a "
                        "role of letters, digits, '_', '-' or '.'"
                    )
                if any(ch in device for ch in "*?["):
                    patterns.append((device, role))
                else:
                    exact[device] = role
        return cls(exact, tuple(patterns), str(path))

    def role_for(self, device: str) -> str | None:
        if device in self.exact:
            return self.exact[device]
        for pattern, role in self.patterns:
            if fnmatch.fnmatchcase(device, pattern):
                return role
        return None


def load_role_map(golden_dir: Path | None, roles_file: Path | None = None) -> RoleMap:
    """Load ``roles_file``, or ``<golden_dir>/roles.csv`` when it exists, or no roles."""
    if roles_file is not None:
        if not roles_file.is_file():
            raise ValueError(
                f"roles file {str(roles_file)!r} does not exist: create a 'device,role' CSV "
                "or leave roles_file unset"
            )
        return RoleMap.load(roles_file)
    if golden_dir is not None and (golden_dir / "roles.csv").is_file():
        return RoleMap.load(golden_dir / "roles.csv")
    log.warning("no roles file found: backups get no role and no golden comparison")
    return RoleMap.empty()


def load_golden_configs(golden_dir: Path | None) -> dict[str, str]:
    """Return the golden configuration template of each role, from ``<role>.cfg`` files."""
    if golden_dir is None:
        return {}
    if not golden_dir.is_dir():
        raise ValueError(
            f"golden folder {str(golden_dir)!r} does not exist: pass the folder of "
            "<role>.cfg files, or None to skip the golden comparison"
        )
    goldens: dict[str, str] = {}
    for path in sorted(golden_dir.glob("*.cfg")):
        role = path.name.removesuffix(".cfg")
        text = decode_bytes(path.read_bytes())
        for number, line in enumerate(text.splitlines(), start=1):
            for name in _PLACEHOLDER.findall(line):
                if name not in _GOLDEN_VARIABLES:
                    raise ValueError(
                        f"golden file {str(path)!r} line {number} uses placeholder "
                        f"{{{{ {name} }}}}: only {', '.join(_GOLDEN_VARIABLES)} are replaced"
                    )
        goldens[role] = text
    return goldens


def render_golden(template: str, device: str, site_id: str) -> str:
    """Replace the golden placeholders with the values of one device."""
    values = {"device": device, "hostname": device.split(".", 1)[0], "site_id": site_id}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
