"""Parsers of the 5G core sources, one module per format, and the records they produce.

Every parser is pure: it takes the text of one landing file, the file's entry from the
sources configuration and a Pseudonymiser, and returns records with every identity already
replaced by its pseudonym. Lines or records that cannot be parsed come back as
QuarantinedLine values, also scrubbed, and never stop the rest of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

# 5GMM cause values, TS 24.501 table 9.11.3.2.1 (decimal).
FIVEGMM_CAUSES: dict[int, str] = {
    3: "Illegal UE",
    5: "PEI not accepted",
    6: "Illegal ME",
    7: "5GS services not allowed",
    9: "UE identity cannot be derived by the network",
    10: "Implicitly de-registered",
    11: "PLMN not allowed",
    12: "Tracking area not allowed",
    13: "Roaming not allowed in this tracking area",
    15: "No suitable cells in tracking area",
    20: "MAC failure",
    21: "Synch failure",
    22: "Congestion",
    23: "UE security capabilities mismatch",
    24: "Security mode rejected",
    26: "Non-5G authentication unacceptable",
    27: "N1 mode not allowed",
    28: "Restricted service area",
    43: "LADN not available",
    62: "No network slices available",
    65: "Maximum number of PDU sessions reached",
    67: "Insufficient resources for specific slice and DNN",
    69: "Insufficient resources for specific slice",
    71: "ngKSI already in use",
    72: "Non-3GPP access to 5GCN not allowed",
    73: "Serving network not authorized",
    90: "Payload was not forwarded",
    91: "DNN not supported or not subscribed in the slice",
    92: "Insufficient user-plane resources for the PDU session",
    95: "Semantically incorrect message",
    96: "Invalid mandatory information",
    97: "Message type non-existent or not implemented",
    98: "Message type not compatible with the protocol state",
    99: "Information element non-existent or not implemented",
    100: "Conditional IE error",
    101: "Message not compatible with the protocol state",
    111: "Protocol error, unspecified",
}

# 5GSM cause values of PDU session establishment rejects, TS 24.501 table 9.11.4.2.1.
FIVEGSM_CAUSES: dict[int, str] = {
    8: "Operator determined barring",
    26: "Insufficient resources",
    27: "Missing or unknown DNN",
    28: "Unknown PDU session type",
    29: "User authentication or authorization failed",
    31: "Request rejected, unspecified",
    32: "Service option not supported",
    33: "Requested service option not subscribed",
    35: "PTI already in use",
    38: "Network failure",
    46: "Out of LADN service area",
    50: "PDU session type IPv4 only allowed",
    51: "PDU session type IPv6 only allowed",
    54: "PDU session does not exist",
    67: "Insufficient resources for specific slice and DNN",
    68: "Not supported SSC mode",
    69: "Insufficient resources for specific slice",
    70: "Missing or unknown DNN in a slice",
    81: "Invalid PTI value",
    82: "Maximum data rate per UE for user-plane integrity protection is too low",
    83: "Semantic error in the QoS operation",
    84: "Syntactical error in the QoS operation",
    95: "Semantically incorrect message",
    96: "Invalid mandatory information",
    97: "Message type non-existent or not implemented",
    98: "Message type not compatible with the protocol state",
    99: "Information element non-existent or not implemented",
    100: "Conditional IE error",
    101: "Message not compatible with the protocol state",
    111: "Protocol error, unspecified",
}

CAUSE_NOT_LOGGED = "not logged"

OUTCOME_ACCEPT = "accept"
OUTCOME_COMPLETE = "complete"
OUTCOME_REJECT = "reject"
OUTCOME_NO_RESPONSE = "no_response"

DEFAULT_RESPONSE_WINDOW_SECONDS = 10.0

_CAUSE = re.compile(r"^\s*(?:0[xX](?P<hex>[0-9A-Fa-f]{1,4})|(?P<dec>\d{1,5}))\s*$")


class CauseFormatError(ValueError):
    """A cause value that is neither decimal nor ``0x`` hexadecimal."""


def parse_cause(text: str) -> int:
    """Parse a cause value written in decimal (``23``) or hexadecimal (``0x17``)."""
    match = _CAUSE.match(text)
    if not match:
        raise CauseFormatError(
            f"cause {text!r} is invalid: expected a decimal number such as 23 or hex such as 0x17"
        )
    return int(match["hex"], 16) if match["hex"] else int(match["dec"])


@dataclass(frozen=True, slots=True)
class QuarantinedLine:
    """A line or record that could not be parsed: where it is, why, and its scrubbed text."""

    location: str
    reason: str
    content: str


@dataclass(slots=True)
class RegistrationAttempt:
    """One Registration Request at an AMF and the AMF's response to it."""

    site_id: str
    amf_instance: str
    nf_vendor: str
    attempt_key: str
    ran_ue_ngap_id: int | None
    amf_ue_ngap_id: int | None
    ue_pseudonym: str | None
    requested_at: datetime
    requested_at_text: str
    line_number: int
    tac: int | None = None
    cell_id: int | None = None
    outcome: str = OUTCOME_NO_RESPONSE
    outcome_at: datetime | None = None
    outcome_at_text: str | None = None
    cause_code: int | None = None
    cause_name: str | None = None
    cause_logged: bool = False
    latency_ms: float | None = None
    accept_retransmissions: int = 0
    identity_resolved: bool = False

    @property
    def event_date(self) -> date:
        return self.requested_at.date()


@dataclass(slots=True)
class PduSessionAttempt:
    """One PDU Session Establishment Request at an SMF and the SMF's response to it."""

    site_id: str
    smf_instance: str
    nf_vendor: str
    ue_pseudonym: str | None
    pdu_session_id: int | None
    dnn: str | None
    snssai_sst: int | None
    snssai_sd: str | None
    requested_at: datetime
    requested_at_text: str
    line_number: int
    outcome: str = OUTCOME_NO_RESPONSE
    outcome_at: datetime | None = None
    outcome_at_text: str | None = None
    cause_code: int | None = None
    cause_name: str | None = None
    cause_logged: bool = False
    latency_ms: float | None = None
    ue_ipv4_pseudonym: str | None = None
    ue_ipv6_pseudonym: str | None = None

    @property
    def event_date(self) -> date:
        return self.requested_at.date()


@dataclass
class LogParseStats:
    """Counts of what a log parser did with the lines of one file."""

    lines: int = 0
    ignored_lines: int = 0
    orphan_outcomes: int = 0
    expired_attempts: int = 0


@dataclass
class ParsedRegistrations:
    """Registration attempts of one AMF log file."""

    attempts: list[RegistrationAttempt] = field(default_factory=list)
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    stats: LogParseStats = field(default_factory=LogParseStats)


@dataclass
class ParsedPduSessions:
    """PDU session establishment attempts of one SMF log file."""

    attempts: list[PduSessionAttempt] = field(default_factory=list)
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    stats: LogParseStats = field(default_factory=LogParseStats)


def latency_ms(start: datetime, end: datetime) -> float:
    """Milliseconds from ``start`` to ``end``, both read from the same NF clock."""
    return (end - start).total_seconds() * 1000.0
