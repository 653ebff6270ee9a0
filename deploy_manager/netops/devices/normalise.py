"""Normalisation of configuration backups before hashing and diffing.

Network operating systems and backup tools write lines into a configuration that change
without anyone changing the configuration: the time of the last change or save, NTP clock
calibration, uptime and counters copied from ``show`` commands. Normalisation removes them,
so two backups of an unchanged device hash the same. It also turns CRLF into LF, strips
trailing whitespace and drops blank lines at the start and end of the file.

The vendor is detected from the content, and each vendor has its own patterns. A backup of
unknown vendor gets every pattern. That is safe because each pattern matches the start of a
line in a form that no configuration statement takes.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

CISCO_IOS = "cisco_ios"
CISCO_NXOS = "cisco_nxos"
JUNIPER_JUNOS = "juniper_junos"
ARISTA_EOS = "arista_eos"
UNKNOWN = "unknown"
VENDORS = (CISCO_IOS, CISCO_NXOS, JUNIPER_JUNOS, ARISTA_EOS, UNKNOWN)

# Vendor detection reads the head of the file, where every supported OS writes its markers.
_DETECTION_LINES = 400


@dataclass(frozen=True)
class VolatilePattern:
    """A named whole-line pattern for lines that change without a configuration change."""

    name: str
    vendors: frozenset[str]
    regex: re.Pattern[str]


def _pattern(name: str, vendors: tuple[str, ...], regex: str) -> VolatilePattern:
    return VolatilePattern(name, frozenset(vendors), re.compile(regex, re.IGNORECASE))


_CISCO_LIKE = (CISCO_IOS, CISCO_NXOS, ARISTA_EOS)
_ALL = (CISCO_IOS, CISCO_NXOS, JUNIPER_JUNOS, ARISTA_EOS)

# Uptime and counters count as volatile only on comment lines ('!' or '#'), because backup
# tools that copy show command output into the file write it as comments.
VOLATILE_PATTERNS: tuple[VolatilePattern, ...] = (
    _pattern("building-configuration", _CISCO_LIKE, r"^Building configuration\.\.\.$"),
    _pattern("current-configuration-size", _CISCO_LIKE, r"^Current configuration ?: ?\d+ bytes$"),
    _pattern("last-configuration-change", (CISCO_IOS,), r"^! ?Last configuration change at "),
    _pattern("nvram-last-updated", (CISCO_IOS,), r"^! ?NVRAM config last updated at "),
    _pattern(
        "no-change-since-restart", (CISCO_IOS,), r"^! ?No configuration change since last restart"
    ),
    _pattern("ntp-clock-period", (CISCO_IOS,), r"^ntp clock-period \d+$"),
    _pattern("nxos-time", (CISCO_NXOS,), r"^! ?Time: "),
    _pattern("nxos-last-done", (CISCO_NXOS,), r"^! ?Running configuration last done at: "),
    _pattern("eos-startup-config-modified", (ARISTA_EOS,), r"^! ?Startup-config last modified at "),
    _pattern("junos-last-commit", (JUNIPER_JUNOS,), r"^## ?Last commit: "),
    _pattern("junos-last-changed", (JUNIPER_JUNOS,), r"^## ?Last changed: "),
    _pattern(
        "uptime",
        _ALL,
        r"^[!#]+.*\b(uptime is|uptime:|system booted:|protocols started:|last configured:"
        r"|system returned to rom by|current time:)",
    ),
    _pattern(
        "counter",
        _ALL,
        r"^[!#]+.*(\b\d+ (packets|bytes) (input|output)\b|\binput errors\b|\boutput errors\b"
        r"|\bfree memory\b|\(\d+ matches\))",
    ),
)

_JUNOS_MARKERS = re.compile(
    r"^(## Last (commit|changed): |version \S+;$|system \{$|set (system|interfaces|protocols) )"
)
_NXOS_MARKERS = re.compile(
    r"^(!Command: show (running|startup)-config|!Time: |!Running configuration last done at)"
)
_EOS_MARKERS = re.compile(
    r"^(! device: .*\bEOS-|! Command: show (running|startup)-config|! Startup-config last "
    r"modified at |daemon TerminAttr$|management api http-commands$)"
)
_IOS_MARKERS = re.compile(
    r"^(Building configuration\.\.\.$|Current configuration ?: ?\d+ bytes$|! ?Last configuration "
    r"change at |! ?NVRAM config last updated at |version \d+\.\d+$)"
)


@dataclass(frozen=True)
class NormalisedConfig:
    """A configuration after normalisation, with the hashes and what was removed."""

    vendor: str
    lines: tuple[str, ...]
    raw_sha256: str
    normalised_sha256: str
    removed_patterns: dict[str, int] = field(default_factory=dict)

    @property
    def removed_line_count(self) -> int:
        return sum(self.removed_patterns.values())


def detect_vendor(text: str) -> str:
    """Detect the vendor from the markers in the first lines of ``text``.

    Junos is checked first, then NX-OS and EOS, then IOS, because EOS and NX-OS headers
    also match looser IOS forms. A configuration with no marker is ``unknown``.
    """
    head = [line.rstrip() for line in text.splitlines()[:_DETECTION_LINES]]
    for vendor, markers in (
        (JUNIPER_JUNOS, _JUNOS_MARKERS),
        (CISCO_NXOS, _NXOS_MARKERS),
        (ARISTA_EOS, _EOS_MARKERS),
        (CISCO_IOS, _IOS_MARKERS),
    ):
        if any(markers.match(line) for line in head):
            return vendor
    return UNKNOWN


@functools.cache
def patterns_for(vendor: str) -> tuple[VolatilePattern, ...]:
    if vendor not in VENDORS:
        raise ValueError(f"vendor {vendor!r} is unknown: use one of {', '.join(VENDORS)}")
    if vendor == UNKNOWN:
        return VOLATILE_PATTERNS
    return tuple(p for p in VOLATILE_PATTERNS if vendor in p.vendors)


@functools.cache
def _any_pattern(vendor: str) -> re.Pattern[str]:
    # One alternation rejects most lines in one match call; only a hit is matched again
    # pattern by pattern to learn its name.
    return re.compile(
        "|".join(f"(?:{p.regex.pattern})" for p in patterns_for(vendor)), re.IGNORECASE
    )


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def normalise_config(text: str, vendor: str | None = None) -> NormalisedConfig:
    """Remove the volatile lines of ``text`` and hash what remains.

    ``vendor`` defaults to the detected one. The raw hash is taken over the text as given.
    The normalised hash is taken over the kept lines joined by LF with a final LF.
    """
    vendor = vendor or detect_vendor(text)
    patterns = patterns_for(vendor)
    any_pattern = _any_pattern(vendor)
    removed: Counter[str] = Counter()
    kept: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.rstrip()
        stripped = line.lstrip()
        if any_pattern.match(stripped):
            match = next(p for p in patterns if p.regex.match(stripped))
            removed[match.name] += 1
            continue
        kept.append(line)
    start = 0
    while start < len(kept) and not kept[start]:
        start += 1
    end = len(kept)
    while end > start and not kept[end - 1]:
        end -= 1
    kept = kept[start:end]
    normalised_text = "\n".join(kept) + "\n" if kept else ""
    return NormalisedConfig(
        vendor=vendor,
        lines=tuple(kept),
        raw_sha256=sha256_text(text),
        normalised_sha256=sha256_text(normalised_text),
        removed_patterns=dict(sorted(removed.items())),
    )
