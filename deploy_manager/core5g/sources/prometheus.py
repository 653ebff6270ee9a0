"""Prometheus text scrapes of Open5GS NFs, and counter increases between consecutive scrapes.

The parser follows the text exposition format 0.0.4: ``# HELP`` and ``# TYPE`` lines, other
comments ignored, samples ``name{label="value",...} value [timestamp_ms]`` with ``\\\\``,
``\\"`` and ``\\n`` escapes in label values, and ``NaN``, ``+Inf`` and ``-Inf`` values. A
line that breaks the format is quarantined and the rest of the scrape is kept.

The exposition carries neither the scrape time nor the target, so both come from the sources
configuration or the file name (see SourceConfig.scrape_time).

Open5GS counters restart at 0 when the NF restarts, and a labelled series appears only after
its first increment. counter_increases() therefore computes each series' increase between
two consecutive scrapes the way Prometheus ``increase()`` treats resets: a value lower than
the one before, or a changed ``process_start_time_seconds``, means the counter restarted at 0,
so the increase is the new value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from deploy_manager.core5g.sources import QuarantinedLine
from deploy_manager.core5g.sources.config import SourceConfig
from deploy_manager.ingest.pseudonymise import Pseudonymiser

PROCESS_START_METRIC = "process_start_time_seconds"

QUALITY_OK = "ok"
QUALITY_NEGATIVE_GAUGE = "negative_gauge"
QUALITY_NEGATIVE_COUNTER = "negative_counter"
QUALITY_NAN = "nan"
QUALITY_INFINITE = "infinite"

METRIC_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
# Suffixes of the samples of a histogram or summary family.
_FAMILY_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SIMPLE_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]+(?P<value>\S+)(?:[ \t]+(?P<ts>\S+))?[ \t]*$"
)
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)$")
_SPECIAL_VALUES = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "-inf": -math.inf}


class ExpositionError(ValueError):
    """A line that does not follow the Prometheus text exposition format."""


@dataclass(frozen=True, slots=True)
class ExposedSample:
    """One sample line as exposed, before any judgement of its value."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    value_text: str
    timestamp_ms: int | None
    line_number: int


@dataclass
class Exposition:
    """The samples, types and help texts of one scrape, and the lines that broke the format."""

    samples: list[ExposedSample] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    def type_of(self, sample_name: str) -> str:
        """Type of the family a sample belongs to; ``untyped`` when no TYPE line names it."""
        if sample_name in self.types:
            return self.types[sample_name]
        for suffix in _FAMILY_SUFFIXES:
            if sample_name.endswith(suffix):
                family = sample_name[: -len(suffix)]
                if self.types.get(family) in ("histogram", "summary", "counter"):
                    return self.types[family]
        return "untyped"


def parse_exposition(text: str) -> Exposition:
    """Parse the text exposition format; lines that break it are listed in ``errors``."""
    exposition = Exposition()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            if line.startswith("#"):
                _parse_comment(line, exposition)
            else:
                exposition.samples.append(_parse_sample(line, number))
        except ExpositionError as exc:
            exposition.errors.append((number, str(exc), raw))
    return exposition


def _parse_comment(line: str, exposition: Exposition) -> None:
    parts = line[1:].lstrip().split(None, 2)
    if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
        return
    keyword, name = parts[0], parts[1]
    if not _METRIC_NAME.fullmatch(name):
        raise ExpositionError(f"metric name {name!r} in # {keyword} is invalid")
    rest = parts[2] if len(parts) > 2 else ""
    if keyword == "TYPE":
        metric_type = rest.strip()
        if metric_type not in METRIC_TYPES:
            raise ExpositionError(
                f"type {metric_type!r} of {name} is invalid: expected one of {sorted(METRIC_TYPES)}"
            )
        exposition.types[name] = metric_type
    else:
        exposition.helps[name] = rest.replace("\\n", "\n").replace("\\\\", "\\")


def _parse_sample(line: str, number: int) -> ExposedSample:
    simple = _SIMPLE_SAMPLE.match(line)
    if simple and not simple["value"].startswith("{"):
        name, labels, rest = simple["name"], (), line[simple.end("name") :]
    else:
        name_match = _METRIC_NAME.match(line)
        if name_match is None:
            raise ExpositionError("sample line does not start with a metric name")
        name = name_match.group(0)
        position = name_match.end()
        while position < len(line) and line[position] in " \t":
            position += 1
        if position >= len(line) or line[position] != "{":
            raise ExpositionError(f"sample {name} has no value")
        labels, position = _parse_labels(line, position + 1)
        rest = line[position:]
    fields = rest.split()
    if not fields or len(fields) > 2:
        raise ExpositionError(f"sample {name} needs a value and at most a timestamp after it")
    value = _parse_value(fields[0], name)
    timestamp = None
    if len(fields) == 2:
        try:
            timestamp = int(fields[1])
        except ValueError as exc:
            raise ExpositionError(
                f"timestamp {fields[1]!r} of {name} is invalid: expected milliseconds"
            ) from exc
    return ExposedSample(name, tuple(sorted(labels)), value, fields[0], timestamp, number)


def _parse_labels(line: str, position: int) -> tuple[list[tuple[str, str]], int]:
    """Parse ``name="value",...}`` from ``position``; return the labels and the next position."""
    labels: list[tuple[str, str]] = []
    seen: set[str] = set()
    length = len(line)
    while True:
        while position < length and line[position] in " \t":
            position += 1
        if position < length and line[position] == "}":
            return labels, position + 1
        name_match = _LABEL_NAME.match(line, position)
        if name_match is None:
            raise ExpositionError(f"label name expected at column {position + 1}")
        label = name_match.group(0)
        position = name_match.end()
        while position < length and line[position] in " \t":
            position += 1
        if position >= length or line[position] != "=":
            raise ExpositionError(f'label {label} must be followed by ="value"')
        position += 1
        while position < length and line[position] in " \t":
            position += 1
        if position >= length or line[position] != '"':
            raise ExpositionError(f"value of label {label} must be in double quotes")
        value, position = _parse_label_value(line, position + 1, label)
        if label in seen:
            raise ExpositionError(f"label {label} appears twice in one sample")
        seen.add(label)
        labels.append((label, value))
        while position < length and line[position] in " \t":
            position += 1
        if position < length and line[position] == ",":
            position += 1
        elif position >= length or line[position] != "}":
            raise ExpositionError(f"',' or '}}' expected after label {label}")


def _parse_label_value(line: str, position: int, label: str) -> tuple[str, int]:
    chars: list[str] = []
    length = len(line)
    while position < length:
        char = line[position]
        if char == "\\":
            if position + 1 >= length:
                break
            escaped = line[position + 1]
            chars.append({"n": "\n", "\\": "\\", '"': '"'}.get(escaped, "\\" + escaped))
            position += 2
        elif char == '"':
            return "".join(chars), position + 1
        else:
            chars.append(char)
            position += 1
    raise ExpositionError(f"value of label {label} has no closing quote")


def _parse_value(text: str, name: str) -> float:
    special = _SPECIAL_VALUES.get(text.lower())
    if special is not None:
        return special
    if not _FLOAT.match(text):
        raise ExpositionError(f"value {text!r} of {name} is not a number")
    return float(text)


def labels_key(labels: tuple[tuple[str, str], ...]) -> str:
    """Canonical text of a label set, sorted by name and escaped as in the exposition."""
    return ",".join(f'{name}="{_escape_label_value(value)}"' for name, value in labels)


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class ScrapeSample:
    """One sample of a scrape as stored: an invalid value is None and named in ``quality``."""

    metric: str
    metric_type: str
    labels: tuple[tuple[str, str], ...]
    labels_key: str
    value: float | None
    value_text: str
    quality: str
    sample_timestamp_ms: int | None
    line_number: int

    @property
    def cumulative(self) -> bool:
        """True for samples that only grow until the process restarts."""
        if self.metric_type in ("counter", "histogram"):
            return True
        return self.metric_type == "summary" and not any(k == "quantile" for k, _ in self.labels)


@dataclass
class Scrape:
    """One scrape of one NF instance."""

    site_id: str
    nf: str
    instance: str
    vendor: str
    scraped_at: datetime
    process_start_time: float | None
    samples: list[ScrapeSample]
    quarantined: list[QuarantinedLine]

    @property
    def event_date(self) -> date:
        return self.scraped_at.date()


def parse_scrape(
    text: str,
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    *,
    scraped_at: datetime,
) -> Scrape:
    """Parse one scrape file; invalid values are kept as None with a quality flag."""
    exposition = parse_exposition(text)
    quarantined = [
        QuarantinedLine(f"line {number}", reason, pseudonymiser.scrub_text(raw))
        for number, reason, raw in exposition.errors
    ]
    samples: list[ScrapeSample] = []
    seen: set[tuple[str, str]] = set()
    for exposed in exposition.samples:
        # Label values are free text, so an exporter could put an identity in one.
        labels = tuple((name, pseudonymiser.scrub_text(value)) for name, value in exposed.labels)
        key = labels_key(labels)
        if (exposed.name, key) in seen:
            quarantined.append(
                QuarantinedLine(
                    f"line {exposed.line_number}",
                    f"series {exposed.name}{{{key}}} appears twice in one scrape",
                    pseudonymiser.scrub_text(f"{exposed.name}{{{key}}} {exposed.value_text}"),
                )
            )
            continue
        seen.add((exposed.name, key))
        metric_type = exposition.type_of(exposed.name)
        value, quality = _judge_value(exposed.value, metric_type)
        samples.append(
            ScrapeSample(
                metric=exposed.name,
                metric_type=metric_type,
                labels=labels,
                labels_key=key,
                value=value,
                value_text=exposed.value_text,
                quality=quality,
                sample_timestamp_ms=exposed.timestamp_ms,
                line_number=exposed.line_number,
            )
        )
    start_time = next(
        (
            s.value
            for s in samples
            if s.metric == PROCESS_START_METRIC and not s.labels and s.value is not None
        ),
        None,
    )
    return Scrape(
        site_id=source.site_id,
        nf=source.nf,
        instance=source.instance,
        vendor=source.vendor,
        scraped_at=scraped_at,
        process_start_time=start_time,
        samples=samples,
        quarantined=quarantined,
    )


def _judge_value(value: float, metric_type: str) -> tuple[float | None, str]:
    """Return the value to store and its quality flag."""
    if math.isnan(value):
        return None, QUALITY_NAN
    if math.isinf(value):
        return None, QUALITY_INFINITE
    if value < 0:
        # NOTE: every Open5GS gauge is a count or a time, so a negative one is an exporter
        # fault. Gauges of other exporters can be negative, and they are flagged here too.
        if metric_type == "gauge":
            return None, QUALITY_NEGATIVE_GAUGE
        if metric_type in ("counter", "histogram", "summary"):
            return None, QUALITY_NEGATIVE_COUNTER
    return value, QUALITY_OK


@dataclass(frozen=True, slots=True)
class CounterIncrease:
    """Increase of one cumulative series between two consecutive scrapes of one instance."""

    site_id: str
    nf: str
    instance: str
    metric: str
    labels: tuple[tuple[str, str], ...]
    labels_key: str
    interval_start: datetime
    interval_end: datetime
    start_value: float | None
    end_value: float
    increase: float
    counter_reset: bool
    series_started: bool

    @property
    def event_date(self) -> date:
        """UTC date of the interval's midpoint, so an interval ending at midnight stays in the
        day it covered."""
        return (self.interval_start + (self.interval_end - self.interval_start) / 2).date()


def counter_increases(previous: Scrape, current: Scrape) -> list[CounterIncrease]:
    """Compute each cumulative series' increase from ``previous`` to ``current``.

    A series absent from ``previous`` but present in ``current`` started after the previous
    scrape, because Open5GS creates a labelled series at its first increment. Its whole value
    is then the increase. A series whose value is invalid in either scrape gets no increase.
    """
    if current.scraped_at <= previous.scraped_at:
        raise ValueError(
            f"scrape of {current.instance} at {current.scraped_at.isoformat()} is not after "
            f"the previous one at {previous.scraped_at.isoformat()}: pass them in time order"
        )
    restarted = (
        previous.process_start_time is not None
        and current.process_start_time is not None
        and previous.process_start_time != current.process_start_time
    )
    before = {(s.metric, s.labels_key): s for s in previous.samples}
    increases: list[CounterIncrease] = []
    for sample in current.samples:
        if not sample.cumulative or sample.value is None:
            continue
        earlier = before.get((sample.metric, sample.labels_key))
        if earlier is not None and earlier.value is None:
            continue
        start_value = earlier.value if earlier is not None else None
        series_started = earlier is None
        if restarted or series_started:
            increase, reset = sample.value, restarted
        elif sample.value < start_value:
            increase, reset = sample.value, True
        else:
            increase, reset = sample.value - start_value, False
        increases.append(
            CounterIncrease(
                site_id=current.site_id,
                nf=current.nf,
                instance=current.instance,
                metric=sample.metric,
                labels=sample.labels,
                labels_key=sample.labels_key,
                interval_start=previous.scraped_at,
                interval_end=current.scraped_at,
                start_value=start_value,
                end_value=sample.value,
                increase=increase,
                counter_reset=reset,
                series_started=series_started,
            )
        )
    return increases
