"""Open5GS AMF and SMF logs: registration and PDU session establishment attempts.

A line reads ``MM/DD HH:MM:SS.mmm: [module] LEVEL: text (../src/file.c:line)``, with no
year and no zone. The year comes from the file's collection date and the zone from the
source's configured time-zone rule (see Open5gsClock).

A registration at the AMF logs ``InitialUEMessage``, then
``RAN_UE_NGAP_ID[n] AMF_UE_NGAP_ID[n] TAC[n] CellID[0x...]``, then lines about the UE
(``[suci-...] Unknown UE by SUCI``) and ``Registration request``. The outcome comes later,
possibly after lines of other UEs: ``[imsi-...] Registration complete`` or
``[suci-...] Registration reject [cause]``, where the identity may be ``(null)``.
Outcomes name the UE but not its NGAP ids, so they are matched to open attempts through
the UE's pseudonym, which is the same for a null-scheme SUCI and the IMSI behind it.

At the SMF a PDU session establishment logs
``[imsi-...:<PSI>] PDU session establishment request DNN[..] S_NSSAI[SST:n SD:0x..]``,
then ``UE SUPI[imsi-...] DNN[..] IPv4[..] IPv6[..]`` when the SMF has allocated the UE
address and set the session up, or ``[imsi-...:<PSI>] PDU session establishment reject
[<5GSM cause>]``.

An attempt without an outcome within the response window of the NF's own clock, or before
the file ends, has the outcome ``no_response``.

NOTE: each file is parsed on its own, so an attempt whose outcome was rotated into the next
file counts as ``no_response`` there, and the outcome is only counted in orphan_outcomes.
The AMF's ``[PSI:PTI] PDU session establishment reject`` lines name no UE and are not
stored: PDU session attempts come from the SMF log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from deploy_manager.core5g.sources import (
    DEFAULT_RESPONSE_WINDOW_SECONDS,
    FIVEGMM_CAUSES,
    FIVEGSM_CAUSES,
    OUTCOME_ACCEPT,
    OUTCOME_COMPLETE,
    OUTCOME_NO_RESPONSE,
    OUTCOME_REJECT,
    CauseFormatError,
    LogParseStats,
    ParsedPduSessions,
    ParsedRegistrations,
    PduSessionAttempt,
    QuarantinedLine,
    RegistrationAttempt,
    latency_ms,
    parse_cause,
)
from deploy_manager.core5g.sources.config import SourceConfig
from deploy_manager.ingest.pseudonymise import (
    IdentityFormatError,
    Pseudonymiser,
    SubscriberPseudonym,
)

# A line is ``MM/DD HH:MM:SS.mmm: [module] LEVEL: text``, optionally followed by
# `` (file:line)`` and white space. _LINE_HEAD matches up to the text, and _iter_log_lines
# cuts the origin off the end.
_LINE_HEAD = re.compile(r"(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}): \[[^\]]*\] ([A-Z]+): ")
# Length of ``MM/DD HH:MM:SS.mmm``, the line time.
_TIME_CHARS = 18
_ORIGIN = re.compile(r"[^()\s]+:\d+")
# Lines Open5GS writes outside the line format: the start-up banner and NAS/NGAP hex dumps.
_SKIPPED_LINE = re.compile(r"^(?:\s*$|Open5GS daemon v|\s*[0-9a-fA-F]{4}: (?:[0-9a-fA-F]{2} ?)+)")

_NGAP_IDS = re.compile(
    r"^\s*RAN_UE_NGAP_ID\[(?P<ran>\d+)\] AMF_UE_NGAP_ID\[(?P<amf>\d+)\]"
    r"(?: TAC\[(?P<tac>\d+)\])?(?: CellID\[(?P<cell>0x[0-9A-Fa-f]+|\d+)\])?"
)
_IDENTITY_PREFIX = re.compile(
    r"^\[(?P<identity>(?:suci-|imsi-|nai-)[^\]:\s]+|\(null\))(?::[^\]]*)?\]"
)
_REGISTRATION_REQUEST = re.compile(r"^(?:\[[^\]]*\]\s+)?Registration request\b")
_REGISTRATION_COMPLETE = re.compile(r"^\[(?P<identity>[^\]]*)\] Registration complete\b")
_REGISTRATION_REJECT = re.compile(
    r"^\[(?P<identity>[^\]]*)\] Registration reject \[(?P<cause>[^\]]*)\]"
)

_PDU_REQUEST = re.compile(
    r"^\[(?P<identity>[^\]:]+):(?P<psi>\d+)\] PDU session establishment request"
    r"(?: DNN\[(?P<dnn>[^\]]*)\])?"
    r"(?: S_NSSAI\[SST:(?P<sst>\d+)(?: SD:(?:0x)?(?P<sd>[0-9A-Fa-f]{6}))?\])?"
)
_PDU_ACCEPT = re.compile(
    r"^UE SUPI\[(?P<identity>[^\]]*)\] DNN\[(?P<dnn>[^\]]*)\]"
    r" IPv4\[(?P<ipv4>[^\]]*)\] IPv6\[(?P<ipv6>[^\]]*)\]"
)
_PDU_REJECT = re.compile(
    r"^\[(?P<identity>[^\]:]+):(?P<psi>\d+)\] PDU session establishment reject"
    r" \[(?P<cause>[^\]]*)\]"
)


class Open5gsClock:
    """Turns Open5GS line times into UTC.

    The year is the collection date's year, unless the line's month and day fall more than one
    day after the collection date: then the line was written the year before (a December line
    in a file collected in January). The one day of slack covers a local date ahead of the
    UTC collection date. In a zone with daylight saving time the hour repeated when clocks go
    back is read as its first occurrence, unless that would move the log backwards.
    """

    def __init__(self, zone: tzinfo, collected_on: date) -> None:
        self._zone = zone
        self._collected_on = collected_on
        self._latest = collected_on + timedelta(days=1)
        self._years: dict[tuple[int, int], int] = {}
        self._previous: datetime | None = None
        self._is_utc = zone is UTC

    def year_of(self, month: int, day: int) -> int:
        """Year of a line dated ``month/day``; raises ValueError for a date that cannot be."""
        key = (month, day)
        year = self._years.get(key)
        if year is None:
            year = self._collected_on.year
            try:
                candidate = date(year, month, day)
            except ValueError:
                candidate = None
            if candidate is None or candidate > self._latest:
                year -= 1
                date(year, month, day)
            self._years[key] = year
        return year

    def to_utc(self, month: int, day: int, hour: int, minute: int, second: int, micros: int):
        """Return the UTC instant of a line time; raises ValueError for an impossible time."""
        return self.place(self.reading(month, day, hour, minute, second, micros))

    def reading(
        self, month: int, day: int, hour: int, minute: int, second: int, micros: int
    ) -> tuple[datetime, datetime | None]:
        """Return the first UTC reading of a line time, and the local time when the zone may
        read it twice (None in UTC).

        Raises ValueError for an impossible time. The reading does not depend on the lines
        before, so lines with the same time text can share it.
        """
        year = self.year_of(month, day)
        if self._is_utc:
            return datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC), None
        local = datetime(year, month, day, hour, minute, second, micros, tzinfo=self._zone)
        return local.astimezone(UTC), local

    def place(self, reading: tuple[datetime, datetime | None]) -> datetime:
        """Return the UTC instant of a reading, after the instants placed before it."""
        instant, local = reading
        previous = self._previous
        if local is not None and previous is not None and instant < previous:
            second_reading = local.replace(fold=1).astimezone(UTC)
            if second_reading >= previous:
                instant = second_reading
        self._previous = instant
        return instant


@dataclass(slots=True)
class _LogLine:
    number: int
    at: datetime
    time_text: str
    level: str
    text: str
    raw: str


def _iter_log_lines(
    lines: Iterable[str],
    clock: Open5gsClock,
    pseudonymiser: Pseudonymiser,
    quarantined: list[QuarantinedLine],
    stats: LogParseStats,
) -> Iterator[_LogLine]:
    """Yield the parsed lines; quarantine the ones that do not fit the line format."""
    # Lines of one event often share their time, so each time text is converted once.
    readings: dict[str, tuple[datetime, datetime | None]] = {}
    head = _LINE_HEAD.match
    origin = _ORIGIN.fullmatch
    place = clock.place
    number = 0
    for raw in lines:
        number += 1
        line = raw.rstrip("\r\n")
        match = head(line)
        if match is not None:
            # The text, without the `` (file:line)`` origin at its end. The line format
            # allows no line break inside it.
            body = line[match.end() :].rstrip()
            if "\n" in body:
                match = None
            elif body.endswith(")"):
                start = body.rfind("(")
                if start > 0 and body[start - 1] == " " and origin(body, start + 1, len(body) - 1):
                    body = body[: start - 1]
        if match is None:
            if _SKIPPED_LINE.match(line):
                stats.ignored_lines += 1
            else:
                quarantined.append(
                    _quarantine(
                        number, "line does not have the Open5GS log format", line, pseudonymiser
                    )
                )
            continue
        time_text = line[:_TIME_CHARS]
        reading = readings.get(time_text)
        if reading is None:
            month, day, hour, minute, second, millis = map(int, match.groups()[:6])
            try:
                reading = clock.reading(month, day, hour, minute, second, millis * 1000)
            except ValueError as exc:
                quarantined.append(
                    _quarantine(number, f"line time is invalid: {exc}", line, pseudonymiser)
                )
                continue
            readings[time_text] = reading
        yield _LogLine(number, place(reading), time_text, match[7], body.strip(), line)
    stats.lines += number


def _quarantine(number: int, reason: str, line: str, pseudonymiser: Pseudonymiser):
    return QuarantinedLine(f"line {number}", reason, pseudonymiser.scrub_text(line))


class _OpenAttempts:
    """Attempts still waiting for an outcome, in the order of their requests."""

    def __init__(self) -> None:
        self._by_line: dict[int, RegistrationAttempt | PduSessionAttempt] = {}

    def add(self, attempt: RegistrationAttempt | PduSessionAttempt) -> None:
        self._by_line[attempt.line_number] = attempt

    def close(self, attempt: RegistrationAttempt | PduSessionAttempt) -> None:
        self._by_line.pop(attempt.line_number, None)

    def is_open(self, attempt: RegistrationAttempt | PduSessionAttempt) -> bool:
        return attempt.line_number in self._by_line

    def expire(self, now: datetime, window: timedelta) -> int:
        """Close the attempts requested more than ``window`` before ``now``; return how many."""
        expired = 0
        while self._by_line:
            oldest = next(iter(self._by_line.values()))
            if oldest.requested_at + window >= now:
                break
            self.close(oldest)
            expired += 1
        return expired

    def newest(self, predicate) -> RegistrationAttempt | PduSessionAttempt | None:
        for attempt in reversed(self._by_line.values()):
            if predicate(attempt):
                return attempt
        return None

    def oldest(self, predicate) -> RegistrationAttempt | PduSessionAttempt | None:
        for attempt in self._by_line.values():
            if predicate(attempt):
                return attempt
        return None

    def matching(self, predicate) -> list[RegistrationAttempt | PduSessionAttempt]:
        return [attempt for attempt in self._by_line.values() if predicate(attempt)]

    def drain(self) -> int:
        count = len(self._by_line)
        self._by_line.clear()
        return count


@dataclass(slots=True)
class _UeContext:
    """UE details from an InitialUEMessage, logged before the UE's Registration request."""

    ran_ue_ngap_id: int | None = None
    amf_ue_ngap_id: int | None = None
    tac: int | None = None
    cell_id: int | None = None
    identity: SubscriberPseudonym | None = None
    attempt: RegistrationAttempt | None = None


def parse_open5gs_amf_log(
    lines: Iterable[str],
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    *,
    collected_on: date,
    response_window_seconds: float = DEFAULT_RESPONSE_WINDOW_SECONDS,
) -> ParsedRegistrations:
    """Parse an Open5GS AMF log into one RegistrationAttempt per Registration request."""
    parser = _AmfLogParser(source, pseudonymiser, response_window_seconds)
    clock = Open5gsClock(source.zone, collected_on)
    result = parser.result
    for line in _iter_log_lines(lines, clock, pseudonymiser, result.quarantined, result.stats):
        parser.handle(line)
    result.stats.expired_attempts += parser.open.drain()
    result.attempts.sort(key=lambda attempt: attempt.line_number)
    return result


class _AmfLogParser:
    def __init__(self, source: SourceConfig, pseudonymiser: Pseudonymiser, window: float):
        self.source = source
        self.pseudonymiser = pseudonymiser
        self.window = timedelta(seconds=window)
        self.result = ParsedRegistrations()
        self.open = _OpenAttempts()
        self.context: _UeContext | None = None

    def handle(self, line: _LogLine) -> None:
        self.result.stats.expired_attempts += self.open.expire(line.at, self.window)
        try:
            self._dispatch(line)
        except IdentityFormatError as exc:
            self.result.quarantined.append(
                _quarantine(line.number, str(exc), line.raw, self.pseudonymiser)
            )

    def _dispatch(self, line: _LogLine) -> None:
        text = line.text
        if text.startswith("InitialUEMessage"):
            self.context = _UeContext()
            return
        ngap = _NGAP_IDS.match(text)
        if ngap:
            self._start_context(ngap)
            return
        # The three Registration patterns need this text, so other lines skip them.
        if "Registration " in text:
            if _REGISTRATION_REQUEST.match(text):
                self._open_attempt(line)
                return
            complete = _REGISTRATION_COMPLETE.match(text)
            if complete:
                self._complete(line, complete["identity"])
                return
            reject = _REGISTRATION_REJECT.match(text)
            if reject:
                self._reject(line, reject["identity"], reject["cause"])
                return
        identity = _IDENTITY_PREFIX.match(text)
        if identity and self.context is not None:
            self._note_identity(line, identity["identity"])
            return
        self.result.stats.ignored_lines += 1

    def _start_context(self, ngap: re.Match[str]) -> None:
        context = self.context if self.context and self.context.attempt is None else _UeContext()
        context.ran_ue_ngap_id = int(ngap["ran"])
        context.amf_ue_ngap_id = int(ngap["amf"])
        context.tac = int(ngap["tac"]) if ngap["tac"] else None
        cell = ngap["cell"]
        if cell is None:
            context.cell_id = None
        elif cell.lower().startswith("0x"):
            context.cell_id = int(cell, 16)
        else:
            context.cell_id = int(cell)
        self.context = context

    def _note_identity(self, line: _LogLine, identity: str) -> None:
        subscriber = self.pseudonymiser.subscriber(identity)
        if subscriber is None:
            return
        context = self.context
        if context.identity is None:
            context.identity = subscriber
        attempt = context.attempt
        if attempt is not None and attempt.ue_pseudonym is None and self.open.is_open(attempt):
            attempt.ue_pseudonym = subscriber.pseudonym
            attempt.identity_resolved = subscriber.resolved

    def _open_attempt(self, line: _LogLine) -> None:
        context = self.context
        if context is None or context.attempt is not None:
            # A Registration request over an existing NG connection has no InitialUEMessage.
            context = _UeContext()
            self.context = context
        if context.ran_ue_ngap_id is not None:
            key = f"{context.ran_ue_ngap_id}/{context.amf_ue_ngap_id}"
        else:
            key = f"line-{line.number}"
        attempt = RegistrationAttempt(
            site_id=self.source.site_id,
            amf_instance=self.source.instance,
            nf_vendor=self.source.vendor,
            attempt_key=key,
            ran_ue_ngap_id=context.ran_ue_ngap_id,
            amf_ue_ngap_id=context.amf_ue_ngap_id,
            ue_pseudonym=context.identity.pseudonym if context.identity else None,
            requested_at=line.at,
            requested_at_text=line.time_text,
            line_number=line.number,
            tac=context.tac,
            cell_id=context.cell_id,
            identity_resolved=bool(context.identity and context.identity.resolved),
        )
        if attempt.ue_pseudonym is not None:
            # A UE that registers again gave up on its earlier attempt, which the AMF dropped.
            for earlier in self.open.matching(lambda a: a.ue_pseudonym == attempt.ue_pseudonym):
                self.open.close(earlier)
                self.result.stats.expired_attempts += 1
        context.attempt = attempt
        self.open.add(attempt)
        self.result.attempts.append(attempt)

    def _find_open(self, subscriber: SubscriberPseudonym | None) -> RegistrationAttempt | None:
        if subscriber is None:
            context = self.context
            if (
                context is not None
                and context.attempt is not None
                and context.attempt.ue_pseudonym is None
                and self.open.is_open(context.attempt)
            ):
                return context.attempt
            return self.open.newest(lambda a: a.ue_pseudonym is None)
        found = self.open.newest(lambda a: a.ue_pseudonym == subscriber.pseudonym)
        if found is not None:
            return found
        # The outcome names the IMSI, but the request only showed a concealed SUCI or no
        # identity: match it only when a single such attempt is open.
        unresolved = self.open.matching(lambda a: not a.identity_resolved)
        return unresolved[0] if len(unresolved) == 1 else None

    def _complete(self, line: _LogLine, identity: str) -> None:
        subscriber = self.pseudonymiser.subscriber(identity)
        attempt = self._find_open(subscriber)
        if attempt is None:
            self.result.stats.orphan_outcomes += 1
            return
        self._adopt_identity(attempt, subscriber)
        self._close(attempt, line, OUTCOME_COMPLETE)

    def _reject(self, line: _LogLine, identity: str, cause_text: str) -> None:
        subscriber = self.pseudonymiser.subscriber(identity)
        attempt = self._find_open(subscriber)
        if attempt is None:
            self.result.stats.orphan_outcomes += 1
            return
        self._adopt_identity(attempt, subscriber)
        self._close(attempt, line, OUTCOME_REJECT)
        attempt.cause_logged = True
        try:
            attempt.cause_code = parse_cause(cause_text)
        except CauseFormatError as exc:
            self.result.quarantined.append(
                _quarantine(line.number, str(exc), line.raw, self.pseudonymiser)
            )
            return
        attempt.cause_name = FIVEGMM_CAUSES.get(attempt.cause_code)

    @staticmethod
    def _adopt_identity(attempt: RegistrationAttempt, subscriber: SubscriberPseudonym | None):
        if subscriber is not None and subscriber.resolved and not attempt.identity_resolved:
            attempt.ue_pseudonym = subscriber.pseudonym
            attempt.identity_resolved = True

    def _close(self, attempt: RegistrationAttempt, line: _LogLine, outcome: str) -> None:
        self.open.close(attempt)
        attempt.outcome = outcome
        attempt.outcome_at = line.at
        attempt.outcome_at_text = line.time_text
        attempt.latency_ms = latency_ms(attempt.requested_at, line.at)


def parse_open5gs_smf_log(
    lines: Iterable[str],
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    *,
    collected_on: date,
    response_window_seconds: float = DEFAULT_RESPONSE_WINDOW_SECONDS,
) -> ParsedPduSessions:
    """Parse an Open5GS SMF log into one PduSessionAttempt per establishment request."""
    result = ParsedPduSessions()
    clock = Open5gsClock(source.zone, collected_on)
    window = timedelta(seconds=response_window_seconds)
    open_attempts = _OpenAttempts()
    for line in _iter_log_lines(lines, clock, pseudonymiser, result.quarantined, result.stats):
        result.stats.expired_attempts += open_attempts.expire(line.at, window)
        try:
            _handle_smf_line(line, source, pseudonymiser, open_attempts, result)
        except IdentityFormatError as exc:
            result.quarantined.append(_quarantine(line.number, str(exc), line.raw, pseudonymiser))
    result.stats.expired_attempts += open_attempts.drain()
    result.attempts.sort(key=lambda attempt: attempt.line_number)
    return result


def _handle_smf_line(line, source, pseudonymiser, open_attempts, result) -> None:
    text = line.text
    # Each pattern needs its literal text, so a line without it skips the pattern.
    if "] PDU session establishment request" in text:
        request = _PDU_REQUEST.match(text)
        if request:
            _open_pdu_attempt(line, request, source, pseudonymiser, open_attempts, result)
            return
    if text.startswith("UE SUPI["):
        accept = _PDU_ACCEPT.match(text)
        if accept:
            _accept_pdu_attempt(line, accept, pseudonymiser, open_attempts, result)
            return
    if "] PDU session establishment reject" in text:
        reject = _PDU_REJECT.match(text)
        if reject:
            _reject_pdu_attempt(line, reject, pseudonymiser, open_attempts, result)
            return
    result.stats.ignored_lines += 1


def _open_pdu_attempt(line, request, source, pseudonymiser, open_attempts, result) -> None:
    ue = pseudonymiser.subscriber_pseudonym(request["identity"])
    psi = int(request["psi"])
    # A repeated request for the same session means the UE gave up on the earlier one.
    for earlier in open_attempts.matching(
        lambda a: a.ue_pseudonym == ue and a.pdu_session_id == psi
    ):
        open_attempts.close(earlier)
        result.stats.expired_attempts += 1
    attempt = PduSessionAttempt(
        site_id=source.site_id,
        smf_instance=source.instance,
        nf_vendor=source.vendor,
        ue_pseudonym=ue,
        pdu_session_id=psi,
        dnn=request["dnn"] or None,
        snssai_sst=int(request["sst"]) if request["sst"] else None,
        snssai_sd=request["sd"].lower() if request["sd"] else None,
        requested_at=line.at,
        requested_at_text=line.time_text,
        line_number=line.number,
    )
    open_attempts.add(attempt)
    result.attempts.append(attempt)


def _accept_pdu_attempt(line, accept, pseudonymiser, open_attempts, result) -> None:
    ue = pseudonymiser.subscriber_pseudonym(accept["identity"])
    dnn = accept["dnn"]
    attempt = open_attempts.oldest(lambda a: a.ue_pseudonym == ue and a.dnn in (dnn, None))
    if attempt is None:
        # The SMF logs the same line when it restores sessions after a UPF restart.
        result.stats.orphan_outcomes += 1
        return
    try:
        attempt.ue_ipv4_pseudonym = pseudonymiser.optional_ip_address(accept["ipv4"])
        attempt.ue_ipv6_pseudonym = pseudonymiser.optional_ip_address(accept["ipv6"])
    except IdentityFormatError as exc:
        result.quarantined.append(_quarantine(line.number, str(exc), line.raw, pseudonymiser))
    _close_pdu_attempt(attempt, line, OUTCOME_ACCEPT, open_attempts)


def _reject_pdu_attempt(line, reject, pseudonymiser, open_attempts, result) -> None:
    ue = pseudonymiser.subscriber_pseudonym(reject["identity"])
    psi = int(reject["psi"])
    attempt = open_attempts.oldest(lambda a: a.ue_pseudonym == ue and a.pdu_session_id == psi)
    if attempt is None:
        result.stats.orphan_outcomes += 1
        return
    _close_pdu_attempt(attempt, line, OUTCOME_REJECT, open_attempts)
    attempt.cause_logged = True
    try:
        attempt.cause_code = parse_cause(reject["cause"])
    except CauseFormatError as exc:
        result.quarantined.append(_quarantine(line.number, str(exc), line.raw, pseudonymiser))
        return
    attempt.cause_name = FIVEGSM_CAUSES.get(attempt.cause_code)


def _close_pdu_attempt(attempt, line: _LogLine, outcome: str, open_attempts) -> None:
    open_attempts.close(attempt)
    attempt.outcome = outcome
    attempt.outcome_at = line.at
    attempt.outcome_at_text = line.time_text
    attempt.latency_ms = latency_ms(attempt.requested_at, line.at)


__all__ = [
    "OUTCOME_NO_RESPONSE",
    "Open5gsClock",
    "parse_open5gs_amf_log",
    "parse_open5gs_smf_log",
]
