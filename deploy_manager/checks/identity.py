"""Patterns of subscriber identities left in clear, for checks that scan mart string columns.

The kinds follow the prefixes of deploy_manager.ingest.pseudonymise: ``supi`` (IMSI), ``suci``
(a SUCI with the null protection scheme, whose output is the MSIN in clear), ``gpsi``
(MSISDN), ``pei`` (IMEI or IMEISV), ``digits15`` (a bare IMSI or IMEI) and ``ipv4``. A
pseudonym such as ``ue-3f0c9a...`` matches none of them: its hex digits are joined to
letters, and a match must stand alone between non-alphanumeric characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_ALONE_BEFORE = r"(?<![0-9A-Za-z])"
_ALONE_AFTER = r"(?![0-9A-Za-z])"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

IDENTITY_PATTERNS: dict[str, re.Pattern[str]] = {
    "supi": re.compile(_ALONE_BEFORE + r"imsi-\d{6,15}" + _ALONE_AFTER, re.IGNORECASE),
    # Protection scheme 0 (null scheme): the scheme output is the MSIN itself.
    "suci": re.compile(
        _ALONE_BEFORE + r"suci-0-\d{3}-\d{2,3}-[0-9A-Fa-f]{1,4}-0-\d{1,3}-\d+" + _ALONE_AFTER,
        re.IGNORECASE,
    ),
    "gpsi": re.compile(
        _ALONE_BEFORE + r"(?:msisdn-\d{5,15}|\+\d{7,15})" + _ALONE_AFTER, re.IGNORECASE
    ),
    "pei": re.compile(
        _ALONE_BEFORE + r"(?:imei-\d{15}|imeisv-\d{16})" + _ALONE_AFTER, re.IGNORECASE
    ),
    # Not after '-': the digits of imsi-<15 digits> are already a supi match.
    "digits15": re.compile(r"(?<![0-9A-Za-z-])\d{15}" + _ALONE_AFTER),
    "ipv4": re.compile(r"(?<![0-9.])" + r"\.".join([_OCTET] * 4) + r"(?![0-9]|\.\d)"),
}
ALL_KINDS: tuple[str, ...] = tuple(IDENTITY_PATTERNS)
# Ansible output names the devices it manages by address; those are not subscriber data.
SUBSCRIBER_KINDS_WITHOUT_IP: tuple[str, ...] = tuple(k for k in ALL_KINDS if k != "ipv4")


def validate_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """Return ``kinds`` as a tuple, or raise ValueError naming the unknown ones."""
    unknown = [k for k in kinds if k not in IDENTITY_PATTERNS]
    if unknown or not kinds:
        raise ValueError(
            f"identity kinds {list(kinds)} are invalid: choose one or more of {list(ALL_KINDS)}"
        )
    return tuple(kinds)


def find_identities(values: Iterable[str | None], kinds: Sequence[str]) -> dict[str, int]:
    """Count the values that contain each kind of identity; kinds without a match are left out."""
    patterns = [(kind, IDENTITY_PATTERNS[kind]) for kind in kinds]
    counts: dict[str, int] = {}
    for value in values:
        if not value:
            continue
        for kind, pattern in patterns:
            if pattern.search(value):
                counts[kind] = counts.get(kind, 0) + 1
    return counts
