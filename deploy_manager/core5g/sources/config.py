"""The sources configuration: which site, NF, format and time-zone rule each landing file has.

None of the 5G core formats names its site, and Open5GS log lines carry neither year nor
zone, so every file is described by the first entry of ``sources.json`` whose pattern
matches its path relative to the landing folder::

    {
      "response_window_seconds": 10,
      "sources": [
        {"pattern": "SITE001/amf-1/*.log", "site_id": "SITE001", "nf": "amf",
         "instance": "amf-1", "format": "open5gs_log", "timezone": "Europe/Berlin",
         "collected_on": "2026-11-02"},
        {"pattern": "SITE001/amf-1/*.prom", "site_id": "SITE001", "nf": "amf",
         "instance": "amf-1", "format": "prometheus_text", "timezone": "UTC"}
      ]
    }

Patterns use ``fnmatch`` rules, where ``*`` also matches ``/``. A pattern without ``/`` is
matched against the file name alone. ``collected_on`` (Open5GS logs) and ``scraped_at``
(Prometheus scrapes) may be left out when the file name contains the date
(``2026-11-02``) or the scrape time (``20261102T080000Z``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deploy_manager.core5g.sources import DEFAULT_RESPONSE_WINDOW_SECONDS
from deploy_manager.partitions import InvalidSiteIdError, validate_site_id

CONFIG_FILE_NAME = "sources.json"

FORMAT_OPEN5GS_LOG = "open5gs_log"
FORMAT_FREE5GC_LOG = "free5gc_log"
FORMAT_PROMETHEUS = "prometheus_text"
FORMAT_CDR_JSON = "chf_cdr_json"
FORMAT_CDR_CSV = "chf_cdr_csv"

# The NFs each format can describe, and the vendor a format implies.
FORMAT_NFS: dict[str, frozenset[str]] = {
    FORMAT_OPEN5GS_LOG: frozenset({"amf", "smf"}),
    FORMAT_FREE5GC_LOG: frozenset({"amf"}),
    FORMAT_PROMETHEUS: frozenset({"amf", "smf", "upf", "pcf", "nrf", "ausf", "udm", "chf"}),
    FORMAT_CDR_JSON: frozenset({"chf"}),
    FORMAT_CDR_CSV: frozenset({"chf"}),
}
FORMAT_DEFAULT_VENDOR: dict[str, str] = {
    FORMAT_OPEN5GS_LOG: "open5gs",
    FORMAT_FREE5GC_LOG: "free5gc",
    FORMAT_PROMETHEUS: "open5gs",
    FORMAT_CDR_JSON: "open5gs",
    FORMAT_CDR_CSV: "open5gs",
}
VENDORS = frozenset({"open5gs", "free5gc"})

_INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_OFFSET = re.compile(r"^(?:UTC)?(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})$")
_NAME_DATE = re.compile(r"(?<!\d)(?P<year>\d{4})-?(?P<month>\d{2})-?(?P<day>\d{2})(?!\d)")
_NAME_SCRAPE_TIME = re.compile(
    r"(?<!\d)(?P<date>\d{8})T(?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})Z"
)
_KNOWN_KEYS = frozenset(
    {
        "pattern",
        "site_id",
        "nf",
        "instance",
        "format",
        "vendor",
        "timezone",
        "collected_on",
        "scraped_at",
    }
)


class SourceConfigError(ValueError):
    """The sources configuration, or the file a source entry is applied to, is invalid."""


@dataclass(frozen=True)
class SourceConfig:
    """One entry of ``sources.json``: the files it matches and what they are."""

    pattern: str
    site_id: str
    nf: str
    instance: str
    format: str
    vendor: str
    timezone_name: str
    zone: tzinfo
    collected_on: date | None = None
    scraped_at: datetime | None = None

    def matches(self, relative_path: str) -> bool:
        return _pattern_matches(self.pattern, relative_path)

    def collection_date(self, relative_path: str) -> date:
        """Date the file was collected on: from the entry, else the date in the file name."""
        if self.collected_on is not None:
            return self.collected_on
        name = PurePosixPath(relative_path).name
        found = _NAME_DATE.search(name)
        if found:
            try:
                return date(int(found["year"]), int(found["month"]), int(found["day"]))
            except ValueError:
                pass
        raise SourceConfigError(
            f"file {relative_path!r} has no collection date: Open5GS lines carry no year, so "
            f"set collected_on (YYYY-MM-DD) in the {CONFIG_FILE_NAME} entry {self.pattern!r} "
            "or put the date in the file name"
        )

    def scrape_time(self, relative_path: str) -> datetime:
        """Time of a Prometheus scrape: from the entry, else ``YYYYMMDDTHHMMSSZ`` in the name."""
        if self.scraped_at is not None:
            return self.scraped_at
        name = PurePosixPath(relative_path).name
        found = _NAME_SCRAPE_TIME.search(name)
        if found:
            # YYYYMMDD: eight digits, so only one split into year, month and day.
            day = found["date"]
            try:
                return datetime(
                    int(day[:4]),
                    int(day[4:6]),
                    int(day[6:]),
                    int(found["hour"]),
                    int(found["minute"]),
                    int(found["second"]),
                    tzinfo=UTC,
                )
            except ValueError:
                pass
        raise SourceConfigError(
            f"file {relative_path!r} has no scrape time: set scraped_at (ISO 8601 with offset) "
            f"in the {CONFIG_FILE_NAME} entry {self.pattern!r} or put YYYYMMDDTHHMMSSZ in the "
            "file name"
        )


@dataclass(frozen=True)
class RejectedEntry:
    """An entry of ``sources.json`` that is invalid, kept so the files it names are reported."""

    number: int
    pattern: str | None
    reason: str
    content: str


def _pattern_matches(pattern: str, relative_path: str) -> bool:
    if "/" not in pattern:
        return fnmatchcase(PurePosixPath(relative_path).name, pattern)
    return fnmatchcase(relative_path, pattern)


@dataclass(frozen=True)
class Core5gSourcesConfig:
    """All source entries of a landing folder, in the order they are matched, and the
    entries rejected as invalid."""

    sources: tuple[SourceConfig, ...]
    response_window_seconds: float = DEFAULT_RESPONSE_WINDOW_SECONDS
    rejected: tuple[RejectedEntry, ...] = ()

    def rejected_match(self, relative_path: str) -> RejectedEntry | None:
        """Return the first rejected entry whose pattern matches ``relative_path``, or None."""
        for entry in self.rejected:
            if entry.pattern is not None and _pattern_matches(entry.pattern, relative_path):
                return entry
        return None

    def match(self, relative_path: str) -> SourceConfig | None:
        """Return the first entry whose pattern matches ``relative_path``, or None."""
        return self._matcher.match(relative_path)

    @cached_property
    def _matcher(self) -> _SourceMatcher:
        return _SourceMatcher(self.sources)


_WILDCARDS = re.compile(r"[*?\[]")


class _SourceMatcher:
    """Lookup of the first source entry whose pattern matches a path, in entry order as
    SourceConfig.matches would find it, without testing every entry.

    An entry whose pattern has ``/`` and a first path segment free of wildcards can only
    match paths with that first segment, so entries are grouped by it. The other entries
    are tried for every path. Each pattern is compiled once.
    """

    def __init__(self, sources: tuple[SourceConfig, ...]) -> None:
        self._by_segment: dict[str, list[tuple[int, SourceConfig, Any, bool]]] = {}
        self._anywhere: list[tuple[int, SourceConfig, Any, bool]] = []
        self._candidates: dict[str, tuple[tuple[SourceConfig, Any, bool], ...]] = {}
        for index, source in enumerate(sources):
            pattern = source.pattern
            by_name = "/" not in pattern
            entry = (index, source, re.compile(fnmatch.translate(pattern)).match, by_name)
            wildcard = _WILDCARDS.search(pattern)
            literal = pattern if wildcard is None else pattern[: wildcard.start()]
            if by_name or "/" not in literal:
                self._anywhere.append(entry)
            else:
                self._by_segment.setdefault(literal.split("/", 1)[0], []).append(entry)

    def match(self, relative_path: str) -> SourceConfig | None:
        segment = relative_path.split("/", 1)[0]
        candidates = self._candidates.get(segment)
        if candidates is None:
            entries = sorted(self._by_segment.get(segment, []) + self._anywhere)
            candidates = tuple((source, test, by_name) for _, source, test, by_name in entries)
            self._candidates[segment] = candidates
        name = None
        for source, test, by_name in candidates:
            if by_name:
                if name is None:
                    name = PurePosixPath(relative_path).name
                if test(name) is not None:
                    return source
            elif test(relative_path) is not None:
                return source
        return None


def parse_timezone(text: str) -> tzinfo:
    """Parse an IANA zone name (``Asia/Kolkata``, ``UTC``) or a fixed offset (``+05:30``)."""
    value = text.strip()
    offset = _OFFSET.match(value)
    if offset:
        delta = timedelta(hours=int(offset["hours"]), minutes=int(offset["minutes"]))
        return timezone(-delta if offset["sign"] == "-" else delta)
    if value.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SourceConfigError(
            f"timezone {text!r} is invalid: use an IANA zone name such as Europe/Berlin or UTC, "
            "or a fixed offset such as +05:30"
        ) from exc


def load_sources_config(path: str | Path) -> Core5gSourcesConfig:
    """Read and validate a ``sources.json`` file."""
    config_path = Path(path)
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SourceConfigError(
            f"sources configuration {str(config_path)!r} not found: create it (see "
            "deploy_manager.core5g.sources.config for the format) or pass its path"
        ) from exc
    except json.JSONDecodeError as exc:
        raise SourceConfigError(
            f"sources configuration {str(config_path)!r} is not valid JSON: {exc}"
        ) from exc
    return parse_sources_config(data, origin=str(config_path))


def parse_sources_config(data: Any, origin: str = CONFIG_FILE_NAME) -> Core5gSourcesConfig:
    """Validate the decoded JSON of a sources configuration."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise SourceConfigError(
            f"{origin} is invalid: expected an object with a 'sources' list of entries"
        )
    window = data.get("response_window_seconds", DEFAULT_RESPONSE_WINDOW_SECONDS)
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise SourceConfigError(
            f"{origin}: response_window_seconds={window!r} is invalid: use a number of "
            "seconds greater than 0"
        )
    sources: list[SourceConfig] = []
    rejected: list[RejectedEntry] = []
    for number, entry in enumerate(data["sources"], start=1):
        try:
            sources.append(_parse_entry(entry, f"{origin} entry {number}"))
        except SourceConfigError as exc:
            pattern = entry.get("pattern") if isinstance(entry, dict) else None
            rejected.append(
                RejectedEntry(
                    number,
                    pattern if isinstance(pattern, str) else None,
                    str(exc),
                    json.dumps(entry, ensure_ascii=False),
                )
            )
    return Core5gSourcesConfig(
        sources=tuple(sources), response_window_seconds=float(window), rejected=tuple(rejected)
    )


def _parse_entry(entry: Any, where: str) -> SourceConfig:
    if not isinstance(entry, dict):
        raise SourceConfigError(f"{where} is invalid: expected an object, got {entry!r}")
    unknown = sorted(set(entry) - _KNOWN_KEYS)
    if unknown:
        raise SourceConfigError(
            f"{where} has unknown keys {unknown}: the keys are {sorted(_KNOWN_KEYS)}"
        )
    for key in ("pattern", "site_id", "nf", "instance", "format"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise SourceConfigError(f"{where} is missing {key!r}: add it as a non-empty string")

    try:
        site_id = validate_site_id(entry["site_id"], fix="correct the site_id of this entry")
    except InvalidSiteIdError as exc:
        raise SourceConfigError(f"{where}: {exc}") from exc

    source_format = entry["format"]
    if source_format not in FORMAT_NFS:
        raise SourceConfigError(
            f"{where}: format {source_format!r} is unknown: use one of {sorted(FORMAT_NFS)}"
        )
    nf = entry["nf"].lower()
    if nf not in FORMAT_NFS[source_format]:
        raise SourceConfigError(
            f"{where}: nf {entry['nf']!r} is invalid for format {source_format!r}: use one of "
            f"{sorted(FORMAT_NFS[source_format])}"
        )
    instance = entry["instance"]
    if not _INSTANCE.match(instance):
        raise SourceConfigError(
            f"{where}: instance {instance!r} is invalid: use 1-64 letters, digits, '_', '.', "
            "':' or '-', starting with a letter or digit"
        )
    vendor = entry.get("vendor", FORMAT_DEFAULT_VENDOR[source_format])
    if vendor not in VENDORS:
        raise SourceConfigError(
            f"{where}: vendor {vendor!r} is unknown: use one of {sorted(VENDORS)}"
        )

    timezone_name = entry.get("timezone")
    if not isinstance(timezone_name, str):
        raise SourceConfigError(
            f"{where} is missing 'timezone': every source declares the zone of its clock, "
            'for example "UTC" or "Asia/Kolkata"'
        )
    try:
        zone = parse_timezone(timezone_name)
    except SourceConfigError as exc:
        raise SourceConfigError(f"{where}: {exc}") from exc

    return SourceConfig(
        pattern=entry["pattern"],
        site_id=site_id,
        nf=nf,
        instance=instance,
        format=source_format,
        vendor=vendor,
        timezone_name=timezone_name,
        zone=zone,
        collected_on=_optional_date(entry.get("collected_on"), where),
        scraped_at=_optional_instant(entry.get("scraped_at"), where),
    )


def _optional_date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise SourceConfigError(
            f"{where}: collected_on={value!r} is invalid: use a date as YYYY-MM-DD"
        ) from exc


def _optional_instant(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise SourceConfigError(
            f"{where}: scraped_at={value!r} is invalid: use ISO 8601 with an offset, "
            "such as 2026-11-02T08:00:00Z"
        ) from exc
    if instant.tzinfo is None:
        raise SourceConfigError(
            f"{where}: scraped_at={value!r} has no offset: add Z or +HH:MM so the time is "
            "not read in the wrong zone"
        )
    return instant.astimezone(UTC)
