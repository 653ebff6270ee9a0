"""CHF charging data records (CHF-CDR, TS 32.298) exported as JSON or CSV.

JSON files hold a list of records, an object with a ``records`` list, or one record per
line (JSON Lines). Field names follow TS 32.298 and the JSON types of TS 29.571::

    {"recordType": "chargingFunctionRecord", "recordingNetworkFunctionID": "chf-1",
     "subscriberIdentifier": "imsi-001010000000101", "chargingID": 4000001,
     "recordOpeningTime": "2026-11-02T08:14:04.300Z", "duration": 3600,
     "recordSequenceNumber": 1, "causeForRecClosing": "timeLimit",
     "localRecordSequenceNumber": 17,
     "pDUSessionChargingInformation": {
        "userIdentifier": "msisdn-491700000101", "userEquipmentInfo": "imeisv-3520990017614823",
        "pDUSessionId": 1, "networkSliceInstanceID": {"sST": 1, "sD": "000001"},
        "dataNetworkNameIdentifier": "internet", "rATType": "NR",
        "userLocationInformation": {"nrLocation": {
            "tai": {"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "000007"},
            "ncgi": {"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": "000000010"}}},
        "pDUAddress": {"pDUIPv4Address": "10.45.0.2"}},
     "listOfMultipleUnitUsage": [{"ratingGroup": 10, "usedUnitContainers": [
        {"localSequenceNumber": 1, "timeOfFirstUsage": "...", "timeOfLastUsage": "...",
         "time": 600, "uplinkVolume": 1200, "downlinkVolume": 56000,
         "pDUContainerInformation": {"userLocationInformation": {"nrLocation": {...}}}}]}]}

TAC and NR cell identity are hex strings, as in TS 29.571. A CSV export has one row per
used-unit container with the columns of CSV_COLUMNS. Either way the result is one
ChfCdrContainer per used-unit container (one with no usage when a record has none). A long
session produces partial records (recordSequenceNumber 1, 2, ...) with one charging id, so
marts group by charging id before summing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from deploy_manager.core5g.sources import QuarantinedLine
from deploy_manager.core5g.sources.config import SourceConfig
from deploy_manager.ingest.pseudonymise import IdentityFormatError, Pseudonymiser

CSV_COLUMNS = (
    "chargingID",
    "recordSequenceNumber",
    "localRecordSequenceNumber",
    "subscriberIdentifier",
    "userIdentifier",
    "userEquipmentInfo",
    "recordOpeningTime",
    "duration",
    "causeForRecClosing",
    "pDUSessionId",
    "sST",
    "sD",
    "dataNetworkNameIdentifier",
    "rATType",
    "mcc",
    "mnc",
    "tac",
    "nrCellId",
    "pDUIPv4Address",
    "pDUIPv6Address",
    "ratingGroup",
    "localSequenceNumber",
    "timeOfFirstUsage",
    "timeOfLastUsage",
    "time",
    "uplinkVolume",
    "downlinkVolume",
    "containerNrCellId",
)
_REQUIRED_CSV_COLUMNS = ("chargingID", "subscriberIdentifier", "recordOpeningTime")


class CdrFormatError(ValueError):
    """A charging data record that misses a field or has a field of the wrong form."""


@dataclass(slots=True)
class ChfCdrContainer:
    """One used-unit container of a CHF-CDR, with the record fields it belongs to."""

    site_id: str
    chf_instance: str
    charging_id: int
    record_sequence_number: int | None
    local_record_sequence_number: int | None
    ue_pseudonym: str | None
    gpsi_pseudonym: str | None
    pei_pseudonym: str | None
    ue_ipv4_pseudonym: str | None
    ue_ipv6_pseudonym: str | None
    record_opening_time: datetime
    record_opening_time_text: str
    duration_seconds: int | None
    cause_for_record_closing: str | None
    pdu_session_id: int | None
    snssai_sst: int | None
    snssai_sd: str | None
    dnn: str | None
    rat_type: str | None
    plmn_id: str | None
    tac: int | None
    nr_cell_id: int | None
    rating_group: int | None
    container_number: int
    local_sequence_number: int | None
    first_usage_at: datetime | None
    last_usage_at: datetime | None
    container_time_seconds: int | None
    container_nr_cell_id: int | None
    uplink_octets: int | None
    downlink_octets: int | None
    record_location: str

    @property
    def partial_record(self) -> bool:
        return self.record_sequence_number is not None

    @property
    def event_date(self) -> date:
        """UTC date of the container's first usage, else of the record's opening."""
        return (self.first_usage_at or self.record_opening_time).date()


@dataclass
class ParsedCdrs:
    """Containers of one CDR file and the records that could not be read."""

    containers: list[ChfCdrContainer] = field(default_factory=list)
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    records: int = 0


def parse_chf_cdr_json(text: str, source: SourceConfig, pseudonymiser: Pseudonymiser) -> ParsedCdrs:
    """Parse a JSON or JSON Lines export of CHF-CDRs."""
    parsed = ParsedCdrs()
    reader = _CdrReader(source, pseudonymiser)
    for location, record, raw in _json_records(text, parsed, pseudonymiser):
        parsed.records += 1
        try:
            parsed.containers.extend(reader.record_containers(record, location))
        except (CdrFormatError, IdentityFormatError) as exc:
            parsed.quarantined.append(
                QuarantinedLine(location, str(exc), pseudonymiser.scrub_text(raw))
            )
    return parsed


def _json_records(
    text: str, parsed: ParsedCdrs, pseudonymiser: Pseudonymiser
) -> Iterator[tuple[str, Any, str]]:
    stripped = text.lstrip()
    try:
        document = json.loads(text) if stripped[:1] in ("[", "{") else None
    except json.JSONDecodeError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        document = document["records"]
    elif isinstance(document, dict):
        document = [document]
    if isinstance(document, list):
        for index, record in enumerate(document, start=1):
            yield f"record {index}", record, json.dumps(record, separators=(",", ":"))
        return
    # JSON Lines: one record per line, so one broken line does not lose the others.
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.records += 1
            parsed.quarantined.append(
                QuarantinedLine(
                    f"line {number}", f"invalid JSON: {exc.msg}", pseudonymiser.scrub_text(line)
                )
            )
            continue
        yield f"line {number}", record, line


def parse_chf_cdr_csv(text: str, source: SourceConfig, pseudonymiser: Pseudonymiser) -> ParsedCdrs:
    """Parse a CSV export of CHF-CDRs with one row per used-unit container."""
    parsed = ParsedCdrs()
    reader = _CdrReader(source, pseudonymiser)
    rows = csv.DictReader(io.StringIO(text))
    header = rows.fieldnames or []
    missing = [column for column in _REQUIRED_CSV_COLUMNS if column not in header]
    if missing:
        parsed.quarantined.append(
            QuarantinedLine(
                "line 1",
                f"CSV header is missing the columns {missing}: add them to the export",
                pseudonymiser.scrub_text(",".join(header)),
            )
        )
        return parsed
    container_numbers: dict[tuple[str, str], int] = {}
    for row in rows:
        location = f"line {rows.line_num}"
        parsed.records += 1
        try:
            record_key = (row["chargingID"], row.get("recordSequenceNumber") or "")
            number = container_numbers.get(record_key, 0) + 1
            container = reader.csv_container(row, location, number)
            container_numbers[record_key] = number
        except (CdrFormatError, IdentityFormatError) as exc:
            raw = ",".join(str(row.get(column) or "") for column in header)
            parsed.quarantined.append(
                QuarantinedLine(location, str(exc), pseudonymiser.scrub_text(raw))
            )
            continue
        parsed.containers.append(container)
    return parsed


class _CdrReader:
    def __init__(self, source: SourceConfig, pseudonymiser: Pseudonymiser) -> None:
        self.source = source
        self.pseudonymiser = pseudonymiser

    def record_containers(self, record: Any, location: str) -> list[ChfCdrContainer]:
        if not isinstance(record, dict):
            raise CdrFormatError(f"{location} is not a JSON object")
        session = _object(record, "pDUSessionChargingInformation")
        location_info = _nr_location(session.get("userLocationInformation"))
        slice_info = _object(session, "networkSliceInstanceID")
        address = _object(session, "pDUAddress")
        opening_text = _required(record, "recordOpeningTime")

        common = {
            "site_id": self.source.site_id,
            "chf_instance": self.source.instance,
            "charging_id": _integer(_required(record, "chargingID"), "chargingID"),
            "record_sequence_number": _optional_integer(record, "recordSequenceNumber"),
            "local_record_sequence_number": _optional_integer(record, "localRecordSequenceNumber"),
            "ue_pseudonym": self._subscriber(_required(record, "subscriberIdentifier")),
            "gpsi_pseudonym": self._optional(
                session.get("userIdentifier"), self.pseudonymiser.gpsi
            ),
            "pei_pseudonym": self._optional(
                session.get("userEquipmentInfo"), self.pseudonymiser.pei
            ),
            "ue_ipv4_pseudonym": self.pseudonymiser.optional_ip_address(
                _text(address.get("pDUIPv4Address"))
            ),
            "ue_ipv6_pseudonym": self.pseudonymiser.optional_ip_address(
                _text(address.get("pDUIPv6Prefix") or address.get("pDUIPv6Address"))
            ),
            "record_opening_time": self._instant(opening_text, "recordOpeningTime"),
            "record_opening_time_text": str(opening_text),
            "duration_seconds": _optional_integer(record, "duration"),
            "cause_for_record_closing": _text(record.get("causeForRecClosing")),
            "pdu_session_id": _optional_integer(session, "pDUSessionId"),
            "snssai_sst": _optional_integer(slice_info, "sST"),
            "snssai_sd": _text(slice_info.get("sD")),
            "dnn": _text(session.get("dataNetworkNameIdentifier")),
            "rat_type": _text(session.get("rATType")),
            "plmn_id": location_info[0],
            "tac": location_info[1],
            "nr_cell_id": location_info[2],
            "record_location": location,
        }

        containers: list[ChfCdrContainer] = []
        usages = record.get("listOfMultipleUnitUsage") or []
        if not isinstance(usages, list):
            raise CdrFormatError("listOfMultipleUnitUsage is not a list")
        for usage in usages:
            if not isinstance(usage, dict):
                raise CdrFormatError("an entry of listOfMultipleUnitUsage is not an object")
            rating_group = _optional_integer(usage, "ratingGroup")
            for used in usage.get("usedUnitContainers") or []:
                if not isinstance(used, dict):
                    raise CdrFormatError("an entry of usedUnitContainers is not an object")
                container_info = _object(used, "pDUContainerInformation")
                cell = _nr_location(container_info.get("userLocationInformation"))[2]
                containers.append(
                    self._container(common, rating_group, len(containers) + 1, used, cell)
                )

        if not containers:
            containers.append(self._container(common, None, 0, {}, None))
        return containers

    def csv_container(self, row: dict[str, str], location: str, number: int) -> ChfCdrContainer:
        def value(column: str) -> str | None:
            text = (row.get(column) or "").strip()
            return text or None

        opening_text = value("recordOpeningTime")
        if opening_text is None:
            raise CdrFormatError("recordOpeningTime is missing")
        plmn = (value("mcc") or "") + (value("mnc") or "")
        common = {
            "site_id": self.source.site_id,
            "chf_instance": self.source.instance,
            "charging_id": _integer(value("chargingID"), "chargingID"),
            "record_sequence_number": _integer_or_none(
                value("recordSequenceNumber"), "recordSequenceNumber"
            ),
            "local_record_sequence_number": _integer_or_none(
                value("localRecordSequenceNumber"), "localRecordSequenceNumber"
            ),
            "ue_pseudonym": self._subscriber(value("subscriberIdentifier")),
            "gpsi_pseudonym": self._optional(value("userIdentifier"), self.pseudonymiser.gpsi),
            "pei_pseudonym": self._optional(value("userEquipmentInfo"), self.pseudonymiser.pei),
            "ue_ipv4_pseudonym": self.pseudonymiser.optional_ip_address(value("pDUIPv4Address")),
            "ue_ipv6_pseudonym": self.pseudonymiser.optional_ip_address(value("pDUIPv6Address")),
            "record_opening_time": self._instant(opening_text, "recordOpeningTime"),
            "record_opening_time_text": opening_text,
            "duration_seconds": _integer_or_none(value("duration"), "duration"),
            "cause_for_record_closing": value("causeForRecClosing"),
            "pdu_session_id": _integer_or_none(value("pDUSessionId"), "pDUSessionId"),
            "snssai_sst": _integer_or_none(value("sST"), "sST"),
            "snssai_sd": value("sD"),
            "dnn": value("dataNetworkNameIdentifier"),
            "rat_type": value("rATType"),
            "plmn_id": plmn or None,
            "tac": _hex_or_none(value("tac"), "tac"),
            "nr_cell_id": _hex_or_none(value("nrCellId"), "nrCellId"),
            "record_location": location,
        }
        used = {
            "localSequenceNumber": value("localSequenceNumber"),
            "timeOfFirstUsage": value("timeOfFirstUsage"),
            "timeOfLastUsage": value("timeOfLastUsage"),
            "time": value("time"),
            "uplinkVolume": value("uplinkVolume"),
            "downlinkVolume": value("downlinkVolume"),
        }
        has_usage = any(v is not None for v in used.values())
        cell = _hex_or_none(value("containerNrCellId"), "containerNrCellId")
        rating_group = _integer_or_none(value("ratingGroup"), "ratingGroup")
        return self._container(common, rating_group, number if has_usage else 0, used, cell)

    def _container(
        self,
        common: dict[str, Any],
        rating_group: int | None,
        number: int,
        used: dict[str, Any],
        cell: int | None,
    ) -> ChfCdrContainer:
        uplink = _optional_integer(used, "uplinkVolume")
        downlink = _optional_integer(used, "downlinkVolume")
        for name, volume in (("uplinkVolume", uplink), ("downlinkVolume", downlink)):
            if volume is not None and volume < 0:
                raise CdrFormatError(f"{name} {volume} is negative: volumes are octet counts")
        first = used.get("timeOfFirstUsage")
        last = used.get("timeOfLastUsage")
        return ChfCdrContainer(
            **common,
            rating_group=rating_group,
            container_number=number,
            local_sequence_number=_optional_integer(used, "localSequenceNumber"),
            first_usage_at=self._instant(first, "timeOfFirstUsage") if first else None,
            last_usage_at=self._instant(last, "timeOfLastUsage") if last else None,
            container_time_seconds=_optional_integer(used, "time"),
            container_nr_cell_id=cell if cell is not None else common["nr_cell_id"],
            uplink_octets=uplink,
            downlink_octets=downlink,
        )

    def _subscriber(self, identity: Any) -> str | None:
        if identity is None:
            raise CdrFormatError("subscriberIdentifier is missing")
        if isinstance(identity, dict):
            identity = identity.get("subscriptionIDData") or identity.get("supi")
        return self.pseudonymiser.subscriber_pseudonym(str(identity))

    @staticmethod
    def _optional(value: Any, pseudonymise) -> str | None:
        if value is None or str(value).strip() == "":
            return None
        return pseudonymise(str(value))

    def _instant(self, value: Any, name: str) -> datetime:
        if not isinstance(value, str):
            raise CdrFormatError(f"{name} {value!r} is invalid: expected an ISO 8601 time")
        try:
            instant = datetime.fromisoformat(value)
        except ValueError as exc:
            raise CdrFormatError(
                f"{name} {value!r} is invalid: expected an ISO 8601 time such as "
                "2026-11-02T08:14:04Z"
            ) from exc
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=self.source.zone)
        return instant.astimezone(UTC)


def _object(container: dict[str, Any], name: str) -> dict[str, Any]:
    value = container.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CdrFormatError(f"{name} is not a JSON object")
    return value


def _required(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if value is None or value == "":
        raise CdrFormatError(f"{name} is missing")
    return value


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise CdrFormatError(f"{name} {value!r} is not an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise CdrFormatError(f"{name} {value!r} is not an integer") from exc


def _integer_or_none(value: Any, name: str) -> int | None:
    if type(value) is int:
        return value
    return None if value is None or value == "" else _integer(value, name)


def _optional_integer(container: dict[str, Any], name: str) -> int | None:
    value = container.get(name)
    if type(value) is int:
        return value
    return None if value is None or value == "" else _integer(value, name)


def _hex_or_none(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    text = value.strip().lower().removeprefix("0x")
    try:
        return int(text, 16)
    except ValueError as exc:
        raise CdrFormatError(f"{name} {value!r} is not a hex string") from exc


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _nr_location(info: Any) -> tuple[str | None, int | None, int | None]:
    """Return (PLMN id, TAC, NR cell identity) of a UserLocation with an ``nrLocation``."""
    if info is None:
        return None, None, None
    if not isinstance(info, dict):
        raise CdrFormatError("userLocationInformation is not a JSON object")
    nr = _object(info, "nrLocation")
    tai = _object(nr, "tai")
    ncgi = _object(nr, "ncgi")
    plmn = _object(tai, "plmnId") or _object(ncgi, "plmnId")
    plmn_id = (str(plmn.get("mcc", "")) + str(plmn.get("mnc", ""))) or None
    tac = _hex_or_none(_text(tai.get("tac")), "tac")
    cell = _hex_or_none(_text(ncgi.get("nrCellId")), "nrCellId")
    return plmn_id, tac, cell
