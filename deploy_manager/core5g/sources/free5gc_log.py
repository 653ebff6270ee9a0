"""free5GC AMF logs: registration attempts.

A line reads ``2026-11-02T13:44:03.119027455+05:30 [INFO][AMF][Gmm][tag]...[tag] text``
with nanoseconds and the offset of the NF's clock. UE lines carry the tags
``[amf_ue_ngap_id:RU:<RAN_UE_NGAP_ID>,AU:<AMF_UE_NGAP_ID>(3GPP)]`` and
``[supi:SUPI:imsi-...]``, so attempts are correlated through their NGAP ids.

free5GC logs ``Send Registration Accept`` and ``Send Registration Reject`` without the
cause, so a reject has cause_code NULL and cause_logged false. The AMF repeats the accept
when timer T3550 expires before the Registration Complete arrives. A repeated accept is
counted in accept_retransmissions and is not a new attempt. Latency runs from the request to
the first accept, in nanoseconds of the NF clock; stored instants keep microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from deploy_manager.core5g.sources import (
    CAUSE_NOT_LOGGED,
    DEFAULT_RESPONSE_WINDOW_SECONDS,
    OUTCOME_ACCEPT,
    OUTCOME_COMPLETE,
    OUTCOME_REJECT,
    ParsedRegistrations,
    QuarantinedLine,
    RegistrationAttempt,
)
from deploy_manager.core5g.sources.config import SourceConfig
from deploy_manager.ingest.pseudonymise import IdentityFormatError, Pseudonymiser

_LINE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?\s+\[(?P<level>[A-Z]+)\]\[(?P<nf>[A-Za-z0-9]+)\]"
    r"\[(?P<category>[^\]]*)\](?P<tags>(?:\[[^\]]*\])*)\s*(?P<text>.*?)\s*$"
)
_TAG = re.compile(r"\[([^\]]*)\]")
_NGAP_TAG = re.compile(r"^amf_ue_ngap_id:RU:(?P<ran>\d+),AU:(?P<amf>\d+)")
_SUPI_TAG = re.compile(r"^supi:(?:SUPI:|SUCI:)?(?P<identity>.*)$")

_REQUEST = "Handle Registration Request"
_ACCEPT = "Send Registration Accept"
_COMPLETE = "Handle Registration Complete"
_REJECT = "Send Registration Reject"


def parse_free5gc_amf_log(
    lines: Iterable[str],
    source: SourceConfig,
    pseudonymiser: Pseudonymiser,
    *,
    response_window_seconds: float = DEFAULT_RESPONSE_WINDOW_SECONDS,
) -> ParsedRegistrations:
    """Parse a free5GC AMF log into one RegistrationAttempt per Registration Request."""
    parser = _Free5gcParser(source, pseudonymiser, response_window_seconds)
    for number, raw in enumerate(lines, start=1):
        parser.handle(number, raw.rstrip("\r\n"))
    parser.finish()
    parser.result.attempts.sort(key=lambda attempt: attempt.line_number)
    return parser.result


class _Free5gcParser:
    def __init__(self, source: SourceConfig, pseudonymiser: Pseudonymiser, window: float):
        self.source = source
        self.pseudonymiser = pseudonymiser
        self.window_ns = int(window * 1_000_000_000)
        self.result = ParsedRegistrations()
        # Attempts by NGAP id key, kept after the outcome to recognise repeated accepts.
        self.by_key: dict[str, RegistrationAttempt] = {}
        # Attempts without an outcome yet: line number -> (attempt, request time in ns).
        self.waiting: dict[int, tuple[RegistrationAttempt, int]] = {}

    def handle(self, number: int, line: str) -> None:
        stats = self.result.stats
        stats.lines += 1
        if not line.strip():
            stats.ignored_lines += 1
            return
        match = _LINE.match(line)
        if match is None:
            self._quarantine(number, "line does not have the free5GC log format", line)
            return
        try:
            at, at_ns = self._instant(match)
        except ValueError as exc:
            self._quarantine(number, f"line time is invalid: {exc}", line)
            return
        self._expire(at_ns)

        text = match["text"]
        if text not in (_REQUEST, _ACCEPT, _COMPLETE, _REJECT):
            stats.ignored_lines += 1
            return
        key, ran_id, amf_id, identity = self._tags(match["tags"])
        try:
            subscriber = self.pseudonymiser.subscriber(identity) if identity else None
        except IdentityFormatError as exc:
            self._quarantine(number, str(exc), line)
            return
        time_text = line[: match.end("offset") if match["offset"] else match.end("time")]

        if text == _REQUEST:
            self._open(number, at, at_ns, time_text, key, ran_id, amf_id, subscriber)
            return

        attempt = self.by_key.get(key) if key else None
        if attempt is None and subscriber is not None:
            attempt = self._newest_for(subscriber.pseudonym)
        if attempt is None:
            stats.orphan_outcomes += 1
            return

        if text == _ACCEPT:
            self._accept(attempt, at, at_ns, time_text)
        elif text == _COMPLETE:
            if attempt.outcome == OUTCOME_ACCEPT:
                attempt.outcome = OUTCOME_COMPLETE
            else:
                stats.orphan_outcomes += 1
        elif attempt.line_number in self.waiting:
            self._settle(attempt, at, at_ns, time_text, OUTCOME_REJECT)
            attempt.cause_name = CAUSE_NOT_LOGGED
            attempt.cause_logged = False
        else:
            stats.orphan_outcomes += 1

    def _instant(self, match: re.Match[str]) -> tuple[datetime, int]:
        """Return the UTC instant (microseconds) and the nanoseconds since the epoch."""
        fraction = (match["fraction"] or "").ljust(9, "0")
        nanos = int(fraction) if fraction else 0
        offset = match["offset"]
        if offset is None:
            zone = self.source.zone
        elif offset == "Z":
            zone = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        local = datetime.fromisoformat(f"{match['date']}T{match['time']}").replace(tzinfo=zone)
        whole = local.astimezone(UTC)
        seconds = int(whole.timestamp())
        return whole.replace(microsecond=nanos // 1000), seconds * 1_000_000_000 + nanos

    @staticmethod
    def _tags(tags: str) -> tuple[str | None, int | None, int | None, str | None]:
        key = ran_id = amf_id = identity = None
        for tag in _TAG.findall(tags):
            ngap = _NGAP_TAG.match(tag)
            if ngap:
                ran_id, amf_id = int(ngap["ran"]), int(ngap["amf"])
                key = f"{ran_id}/{amf_id}"
                continue
            supi = _SUPI_TAG.match(tag)
            if supi:
                identity = supi["identity"].strip() or None
        return key, ran_id, amf_id, identity

    def _open(self, number, at, at_ns, time_text, key, ran_id, amf_id, subscriber) -> None:
        if key is not None:
            earlier = self.by_key.get(key)
            if earlier is not None and earlier.line_number in self.waiting:
                # The UE repeated its request before the AMF responded to the first one.
                del self.waiting[earlier.line_number]
                self.result.stats.expired_attempts += 1
        attempt = RegistrationAttempt(
            site_id=self.source.site_id,
            amf_instance=self.source.instance,
            nf_vendor=self.source.vendor,
            attempt_key=key or f"line-{number}",
            ran_ue_ngap_id=ran_id,
            amf_ue_ngap_id=amf_id,
            ue_pseudonym=subscriber.pseudonym if subscriber else None,
            requested_at=at,
            requested_at_text=time_text,
            line_number=number,
            identity_resolved=bool(subscriber and subscriber.resolved),
        )
        if key is not None:
            self.by_key[key] = attempt
        self.waiting[number] = (attempt, at_ns)
        self.result.attempts.append(attempt)

    def _newest_for(self, pseudonym: str) -> RegistrationAttempt | None:
        for attempt in reversed(self.result.attempts):
            if attempt.ue_pseudonym == pseudonym:
                return attempt
        return None

    def _accept(self, attempt: RegistrationAttempt, at, at_ns: int, time_text: str) -> None:
        if attempt.line_number in self.waiting:
            self._settle(attempt, at, at_ns, time_text, OUTCOME_ACCEPT)
        elif attempt.outcome in (OUTCOME_ACCEPT, OUTCOME_COMPLETE):
            attempt.accept_retransmissions += 1
        else:
            self.result.stats.orphan_outcomes += 1

    def _settle(self, attempt, at: datetime, at_ns: int, time_text: str, outcome: str) -> None:
        _, request_ns = self.waiting.pop(attempt.line_number)
        attempt.outcome = outcome
        attempt.outcome_at = at
        attempt.outcome_at_text = time_text
        attempt.latency_ms = (at_ns - request_ns) / 1_000_000

    def _expire(self, now_ns: int) -> None:
        while self.waiting:
            line_number, (_, request_ns) = next(iter(self.waiting.items()))
            if request_ns + self.window_ns >= now_ns:
                break
            del self.waiting[line_number]
            self.result.stats.expired_attempts += 1

    def finish(self) -> None:
        self.result.stats.expired_attempts += len(self.waiting)
        self.waiting.clear()

    def _quarantine(self, number: int, reason: str, line: str) -> None:
        self.result.quarantined.append(
            QuarantinedLine(f"line {number}", reason, self.pseudonymiser.scrub_text(line))
        )
