"""Device health samples exported by a network monitor, as JSON lines or CSV.

One record per line. The file name's suffix selects the layout, and a trailing ``.gz``
means gzip.

JSON lines (``.jsonl``, ``.ndjson`` or ``.json``)::

    {"device": "edge-r1.site104", "timestamp": "2026-11-02T03:05:00Z",
     "counter_kind": "cumulative",
     "metrics": {"cpu_pct": 12.5, "mem_pct": 41.0, "if_in_errors": 3, "if_out_errors": 0,
                 "if_in_discards": 17, "if_out_discards": 0, "reachable": true,
                 "rtt_ms": 1.8, "packet_loss_pct": 0}}

CSV (``.csv``) has a header row and the same names as flat columns, in any order::

    device,timestamp,cpu_pct,mem_pct,if_in_errors,if_out_errors,if_in_discards,if_out_discards,reachable,rtt_ms,packet_loss_pct,counter_kind

Fields:

- ``device``: the host name as the Ansible inventory writes it. It places the sample at
  the device's site.
- ``timestamp``: ISO 8601 with ``Z`` or an offset such as ``+05:30``, or Unix seconds.
  A timestamp without an offset is rejected, because the monitor's zone is unknown.
- ``cpu_pct``, ``mem_pct``: utilisation in percent, 0 to 100.
- ``if_*_errors``, ``if_*_discards``: summed over the device's interfaces. They are
  totals since boot (SNMP ifInErrors and its kin) when ``counter_kind`` is ``cumulative``,
  the default, or events per second when it is ``per_second``.
- ``reachable``: ICMP reachability, as true/false, 1/0, yes/no or up/down. When it is
  missing and ``packet_loss_pct`` is present, a loss below 100 % means reachable.
- ``rtt_ms``, ``packet_loss_pct``: ping round-trip time and loss.

Every metric may be empty or absent, as it is for an unreachable device. A value that
is not a number or is out of range is stored as NULL and named in the sample's quality
flags. A line without a device, without a valid timestamp or without any metric is rejected.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from deploy_manager.ingest.text import decode_bytes

CUMULATIVE = "cumulative"
PER_SECOND = "per_second"
COUNTER_KINDS = (CUMULATIVE, PER_SECOND)

PERCENT_METRICS = ("cpu_pct", "mem_pct", "packet_loss_pct")
NON_NEGATIVE_METRICS = (
    "if_in_errors",
    "if_out_errors",
    "if_in_discards",
    "if_out_discards",
    "rtt_ms",
)
NUMERIC_METRICS = PERCENT_METRICS + NON_NEGATIVE_METRICS
ALL_METRICS = (*NUMERIC_METRICS, "reachable")

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)

# Unix seconds outside 2000-01-01 .. 2100-01-01 are rejected, because such a value is
# usually milliseconds.
_MIN_EPOCH = 946_684_800
_MAX_EPOCH = 4_102_444_800

_TRUE = {"true", "1", "yes", "up"}
_FALSE = {"false", "0", "no", "down"}


@dataclass(frozen=True)
class MetricSample:
    """One device's health at one time, with UTC time and checked values."""

    device: str
    sample_time: datetime
    cpu_pct: float | None
    mem_pct: float | None
    if_in_errors: float | None
    if_out_errors: float | None
    if_in_discards: float | None
    if_out_discards: float | None
    counter_kind: str
    reachable: bool | None
    rtt_ms: float | None
    packet_loss_pct: float | None
    quality_flags: tuple[str, ...]
    source_format: str
    line: int
    content: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class RejectedLine:
    """A line that could not become a sample: its number, the reason and its text."""

    line: int
    reason: str
    content: str


class MetricLineError(ValueError):
    """A record that cannot become a sample. The message names the value and the fix."""


def metrics_format(path: Path) -> str | None:
    """Return ``jsonl`` or ``csv`` from the file name, or None for any other file."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def read_metrics_file(
    path: Path, *, counter_kind: str = CUMULATIVE
) -> Iterator[MetricSample | RejectedLine]:
    """Parse a metrics file, yielding a sample or a rejected line for each non-blank line.

    ``counter_kind`` applies to records that do not name their own.
    """
    if counter_kind not in COUNTER_KINDS:
        raise ValueError(
            f"counter_kind {counter_kind!r} is invalid: use 'cumulative' or 'per_second'"
        )
    layout = metrics_format(path)
    if layout is None:
        raise ValueError(
            f"metrics file {str(path)!r} has an unknown suffix: name it *.jsonl, *.ndjson, "
            "*.json or *.csv, optionally followed by .gz"
        )
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        lines = _numbered_lines(stream)
        if layout == "jsonl":
            yield from _read_jsonl(lines, counter_kind)
        else:
            yield from _read_csv(lines, counter_kind)


def _numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, start=1):
        text = decode_bytes(raw).rstrip("\r\n")
        if number == 1:
            text = text.removeprefix("\ufeff")
        if text.strip():
            yield number, text


def _read_jsonl(
    lines: Iterator[tuple[int, str]], counter_kind: str
) -> Iterator[MetricSample | RejectedLine]:
    for number, text in lines:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield RejectedLine(number, f"line is not valid JSON ({exc.msg})", text)
            continue
        if not isinstance(record, dict):
            yield RejectedLine(number, "line is not a JSON object: write one object per line", text)
            continue
        metrics = record.get("metrics")
        if not isinstance(metrics, dict):
            yield RejectedLine(
                number,
                "record has no 'metrics' object: put cpu_pct, mem_pct, the interface "
                "counters and reachable under 'metrics'",
                text,
            )
            continue
        yield _sample_or_rejected(record, metrics, "jsonl", number, text, counter_kind)


def _read_csv(
    lines: Iterator[tuple[int, str]], counter_kind: str
) -> Iterator[MetricSample | RejectedLine]:
    first = next(lines, None)
    if first is None:
        return
    header_line, header_text = first
    header = [name.strip() for name in next(csv.reader([header_text]))]
    missing = [name for name in ("device", "timestamp") if name not in header]
    if missing:
        yield RejectedLine(
            header_line,
            f"CSV header lacks column(s) {', '.join(missing)}: the first line must name the "
            "columns, with at least device and timestamp; no line of this file was read",
            header_text,
        )
        return
    for number, text in lines:
        fields = next(csv.reader([text]))
        if len(fields) != len(header):
            yield RejectedLine(
                number,
                f"line has {len(fields)} fields but the header has {len(header)}: "
                "write one record per line with a value or an empty field for each column",
                text,
            )
            continue
        record = dict(zip(header, fields, strict=True))
        yield _sample_or_rejected(record, record, "csv", number, text, counter_kind)


def _sample_or_rejected(
    record: dict[str, Any],
    metrics: dict[str, Any],
    source_format: str,
    number: int,
    text: str,
    counter_kind: str,
) -> MetricSample | RejectedLine:
    try:
        return build_sample(record, metrics, source_format, number, counter_kind, content=text)
    except MetricLineError as exc:
        return RejectedLine(number, str(exc), text)


def build_sample(
    record: dict[str, Any],
    metrics: dict[str, Any],
    source_format: str,
    line: int,
    counter_kind: str = CUMULATIVE,
    *,
    content: str = "",
) -> MetricSample:
    """Check one record and turn it into a sample, or raise MetricLineError."""
    device = parse_device(record.get("device"))
    sample_time = parse_sample_time(record.get("timestamp"))
    kind = _blank_to_none(record.get("counter_kind")) or counter_kind
    if kind not in COUNTER_KINDS:
        raise MetricLineError(f"counter_kind {kind!r} is invalid: use 'cumulative' or 'per_second'")
    if not any(_blank_to_none(metrics.get(name)) is not None for name in ALL_METRICS):
        raise MetricLineError(
            f"record for device {device!r} has no metric: give at least one of "
            f"{', '.join(ALL_METRICS)}"
        )
    flags: list[str] = []
    values = {name: _checked_number(metrics.get(name), name, flags) for name in NUMERIC_METRICS}
    reachable = _reachable(metrics.get("reachable"), values["packet_loss_pct"], flags)
    return MetricSample(
        device=device,
        sample_time=sample_time,
        counter_kind=kind,
        reachable=reachable,
        quality_flags=tuple(flags),
        source_format=source_format,
        line=line,
        content=content,
        **values,
    )


def parse_device(value: Any) -> str:
    device = value.strip() if isinstance(value, str) else ""
    if not device or any(ch.isspace() for ch in device):
        raise MetricLineError(
            f"device {value!r} is missing or invalid: give the inventory host name, without spaces"
        )
    return device


def parse_sample_time(value: Any) -> datetime:
    """Return the UTC time of an ISO 8601 timestamp with an offset, or of Unix seconds."""
    value = _blank_to_none(value)
    if value is None:
        raise MetricLineError("timestamp is missing: give ISO 8601 with Z or an offset")
    epoch = _as_float(value)
    if epoch is not None:
        if not _MIN_EPOCH <= epoch < _MAX_EPOCH:
            raise MetricLineError(
                f"timestamp {value!r} is out of range for Unix seconds (2000 to 2100): "
                "divide milliseconds by 1000 or use ISO 8601"
            )
        return datetime.fromtimestamp(epoch, tz=UTC)
    if not isinstance(value, str):
        raise MetricLineError(f"timestamp {value!r} is invalid: use ISO 8601 or Unix seconds")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise MetricLineError(
            f"timestamp {value!r} is invalid: use ISO 8601 such as 2026-11-02T03:05:00Z"
        ) from exc
    if parsed.tzinfo is None:
        raise MetricLineError(
            f"timestamp {value!r} has no UTC offset: write it with Z or an offset such as "
            "+01:00, because the monitor's time zone is unknown"
        )
    return parsed.astimezone(UTC)


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _checked_number(value: Any, name: str, flags: list[str]) -> float | None:
    value = _blank_to_none(value)
    if value is None:
        return None
    number = _as_float(value)
    if number is None or not math.isfinite(number):
        flags.append(f"{name}_not_numeric")
        return None
    if name in PERCENT_METRICS and not 0.0 <= number <= 100.0:
        flags.append(f"{name}_out_of_range")
        return None
    if number < 0.0:
        flags.append(f"{name}_negative")
        return None
    return number


def _reachable(value: Any, packet_loss_pct: float | None, flags: list[str]) -> bool | None:
    value = _blank_to_none(value)
    if value is None:
        if packet_loss_pct is not None:
            flags.append("reachable_from_packet_loss")
            return packet_loss_pct < 100.0
        flags.append("reachable_missing")
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    flags.append("reachable_invalid")
    return None
