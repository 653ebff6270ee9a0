"""Parsing of the 5G core sources without a database: the input cases, pseudonyms, the
sources configuration, the exposition format, CDRs and the generator."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import astuple
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from deploy_manager.core5g.sources import (
    CauseFormatError,
    RegistrationAttempt,
    parse_cause,
)
from deploy_manager.core5g.sources.cdr import CSV_COLUMNS, parse_chf_cdr_csv, parse_chf_cdr_json
from deploy_manager.core5g.sources.config import (
    SourceConfig,
    SourceConfigError,
    parse_sources_config,
    parse_timezone,
)
from deploy_manager.core5g.sources.free5gc_log import parse_free5gc_amf_log
from deploy_manager.core5g.sources.generator import GeneratorSettings, generate_core5g_landing
from deploy_manager.core5g.sources.open5gs_log import (
    Open5gsClock,
    parse_open5gs_amf_log,
    parse_open5gs_smf_log,
)
from deploy_manager.core5g.sources.prometheus import (
    counter_increases,
    labels_key,
    parse_exposition,
    parse_scrape,
)
from deploy_manager.ingest.pseudonymise import (
    KEY_ENV_VAR,
    KEY_FILE_ENV_VAR,
    IdentityFormatError,
    Pseudonymiser,
    PseudonymKeyError,
    load_key,
)

REPO = Path(__file__).resolve().parent.parent
CASES_DIR = Path(os.environ.get("DM_CASES_DIR", REPO.parent / "shared" / "cases"))
CORE5G_CASES = CASES_DIR / "core5g"
KEY = bytes.fromhex("8f" * 32)

# Identities in clear as they appear in the case files and the generated files.
CLEAR_IDENTITY = re.compile(r"imsi-\d|suci-\d|msisdn-\d|imeisv?-\d|(?<!\d)\d{15}(?!\d)")


def source(name: str = "amf-1", **overrides) -> SourceConfig:
    entry = {
        "pattern": "*",
        "site_id": "SITE104",
        "nf": "amf",
        "instance": name,
        "format": "open5gs_log",
        "timezone": "UTC",
    }
    entry.update(overrides)
    return parse_sources_config({"sources": [entry]}).sources[0]


@pytest.fixture(scope="module")
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(KEY)


@pytest.fixture(scope="module")
def open5gs_case(pseudonymiser):
    lines = (CORE5G_CASES / "open5gs-amf.log").read_text().splitlines()
    return parse_open5gs_amf_log(lines, source(), pseudonymiser, collected_on=date(2026, 11, 2))


@pytest.fixture(scope="module")
def free5gc_case(pseudonymiser):
    lines = (CORE5G_CASES / "free5gc-amf.log").read_text().splitlines()
    config = source("amf-2", format="free5gc_log", timezone="+05:30")
    return parse_free5gc_amf_log(lines, config, pseudonymiser)


@pytest.fixture(scope="module")
def scrapes(pseudonymiser):
    config = source(format="prometheus_text")
    first = parse_scrape(
        (CORE5G_CASES / "open5gs-amf-metrics.prom").read_text(),
        config,
        pseudonymiser,
        scraped_at=datetime(2026, 11, 2, 8, tzinfo=UTC),
    )
    second = parse_scrape(
        (CORE5G_CASES / "open5gs-amf-metrics-after-restart.prom").read_text(),
        config,
        pseudonymiser,
        scraped_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
    )
    return first, second


def success_rate(attempts: list[RegistrationAttempt]) -> float:
    successes = sum(1 for a in attempts if a.outcome in ("accept", "complete"))
    return 100.0 * successes / len(attempts)


def clear_identities(values) -> list[str]:
    return [str(v) for v in values if isinstance(v, str) and CLEAR_IDENTITY.search(v)]


# The Open5GS AMF case.


def test_open5gs_case_has_one_attempt_per_ngap_id(open5gs_case):
    attempts = open5gs_case.attempts
    assert len(attempts) == 5
    assert [a.ran_ue_ngap_id for a in attempts] == [1, 2, 3, 4, 5]
    assert [a.attempt_key for a in attempts] == ["1/1", "2/2", "3/3", "4/4", "5/5"]
    assert open5gs_case.quarantined == []


def test_open5gs_case_success_rate_is_20_percent(open5gs_case):
    outcomes = [a.outcome for a in open5gs_case.attempts]
    assert outcomes.count("complete") == 1
    assert success_rate(open5gs_case.attempts) == 20.0


def test_open5gs_case_success_took_68_ms(open5gs_case, pseudonymiser):
    success = open5gs_case.attempts[0]
    assert success.outcome == "complete"
    assert success.latency_ms == 68.0
    assert success.ue_pseudonym == pseudonymiser.imsi("001010000000101")
    assert success.requested_at == datetime(2026, 11, 2, 8, 14, 3, 119000, tzinfo=UTC)
    assert success.requested_at_text == "11/02 08:14:03.119"
    assert success.outcome_at_text == "11/02 08:14:03.187"


def test_open5gs_case_suci_and_imsi_share_pseudonym(open5gs_case, pseudonymiser):
    by_suci = pseudonymiser.subscriber_pseudonym("suci-0-001-01-0000-0-0-0000000101")
    by_imsi = pseudonymiser.subscriber_pseudonym("imsi-001010000000101")
    assert by_suci == by_imsi
    assert open5gs_case.attempts[0].ue_pseudonym == by_suci


def test_open5gs_case_repeated_reject_is_one_ue(open5gs_case, pseudonymiser):
    ue = pseudonymiser.subscriber_pseudonym("suci-0-001-01-0000-0-0-0000000202")
    rejected = [a for a in open5gs_case.attempts if a.ue_pseudonym == ue]
    assert len(rejected) == 2
    assert len({a.ue_pseudonym for a in rejected}) == 1
    assert [a.outcome for a in rejected] == ["reject", "reject"]
    assert [a.cause_code for a in rejected] == [9, 9]
    assert rejected[0].cause_name == "UE identity cannot be derived by the network"
    assert all(a.cause_logged for a in rejected)


def test_open5gs_case_null_identity_reject_counts(open5gs_case):
    attempt = open5gs_case.attempts[3]
    assert attempt.attempt_key == "4/4"
    assert attempt.ran_ue_ngap_id == 4
    assert attempt.amf_ue_ngap_id == 4
    assert attempt.ue_pseudonym is None
    assert attempt.outcome == "reject"
    assert attempt.cause_code == 97
    assert attempt.cause_name == "Message type non-existent or not implemented"
    assert attempt.cell_id == 0x10


def test_open5gs_case_unanswered_attempt_is_no_response(open5gs_case):
    attempt = open5gs_case.attempts[4]
    assert attempt.ran_ue_ngap_id == 5
    assert attempt.outcome == "no_response"
    assert attempt.outcome_at is None
    assert attempt.latency_ms is None
    assert attempt.cause_code is None


def test_open5gs_case_cells_and_tracking_area(open5gs_case):
    assert {a.cell_id for a in open5gs_case.attempts} == {0x10, 0x11}
    assert [a.cell_id for a in open5gs_case.attempts] == [0x10, 0x11, 0x11, 0x10, 0x10]
    assert {a.tac for a in open5gs_case.attempts} == {7}
    assert {a.event_date for a in open5gs_case.attempts} == {date(2026, 11, 2)}


def test_open5gs_case_keeps_no_identity_in_clear(open5gs_case):
    for attempt in open5gs_case.attempts:
        assert clear_identities(astuple(attempt)) == []
    assert all(
        a.ue_pseudonym is None or a.ue_pseudonym.startswith("ue-") for a in open5gs_case.attempts
    )


# The free5GC AMF case.


def test_free5gc_case_retransmitted_accept_is_one_attempt(free5gc_case):
    attempts = free5gc_case.attempts
    assert len(attempts) == 2
    first = attempts[0]
    assert first.outcome == "complete"
    assert first.accept_retransmissions == 1
    assert first.attempt_key == "1/1"


def test_free5gc_case_latency_to_first_accept(free5gc_case):
    first = free5gc_case.attempts[0]
    assert round(first.latency_ms, 1) == 82.5
    assert first.latency_ms == pytest.approx(82.524465)


def test_free5gc_case_time_in_utc(free5gc_case):
    first = free5gc_case.attempts[0]
    assert first.requested_at == datetime(2026, 11, 2, 8, 14, 3, 119027, tzinfo=UTC)
    assert first.requested_at_text == "2026-11-02T13:44:03.119027455+05:30"
    assert first.event_date == date(2026, 11, 2)


def test_free5gc_case_reject_cause_not_logged(free5gc_case):
    second = free5gc_case.attempts[1]
    assert second.outcome == "reject"
    assert second.cause_code is None
    assert second.cause_name == "not logged"
    assert second.cause_logged is False


def test_free5gc_case_success_rate_is_50_percent(free5gc_case):
    assert success_rate(free5gc_case.attempts) == 50.0
    for attempt in free5gc_case.attempts:
        assert clear_identities(astuple(attempt)) == []


# The Prometheus scrape case.


def test_scrape_case_increase_across_restart(scrapes):
    first, second = scrapes
    assert first.process_start_time == 1762040000
    assert second.process_start_time == 1762045800
    increases = {(i.metric, i.labels_key): i for i in counter_increases(first, second)}
    assert increases[("fivegs_amffunction_rm_reginitreq", "")].increase == 90
    assert increases[("fivegs_amffunction_rm_reginitsucc", "")].increase == 88
    assert increases[("fivegs_amffunction_rm_reginitfail", 'cause="9"')].increase == 2
    assert ("fivegs_amffunction_rm_reginitfail", 'cause="62"') not in increases
    assert all(i.counter_reset for i in increases.values())
    assert len(increases) == 3


def test_scrape_case_success_rate_is_97_8_percent(scrapes):
    increases = {(i.metric, i.labels_key): i.increase for i in counter_increases(*scrapes)}
    requests = increases[("fivegs_amffunction_rm_reginitreq", "")]
    successes = increases[("fivegs_amffunction_rm_reginitsucc", "")]
    assert round(100 * successes / requests, 1) == 97.8


def test_scrape_case_negative_gauge_is_null(scrapes):
    _, second = scrapes
    ran_ue = next(s for s in second.samples if s.metric == "ran_ue")
    assert ran_ue.value is None
    assert ran_ue.value != 0
    assert ran_ue.quality == "negative_gauge"
    assert ran_ue.value_text == "-3"
    first_ran_ue = next(s for s in scrapes[0].samples if s.metric == "ran_ue")
    assert first_ran_ue.value == 310
    assert first_ran_ue.quality == "ok"


def test_scrape_case_types_from_type_lines(scrapes):
    first, _ = scrapes
    types = {s.metric: s.metric_type for s in first.samples}
    assert types["fivegs_amffunction_rm_reginitreq"] == "counter"
    assert types["ran_ue"] == "gauge"
    assert first.quarantined == []


# Pseudonyms.


def test_pseudonym_key_missing_names_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV_VAR, str(tmp_path / "absent.key"))
    with pytest.raises(PseudonymKeyError) as error:
        load_key()
    assert KEY_ENV_VAR in str(error.value)
    assert str(tmp_path / "absent.key") in str(error.value)
    assert "secrets.token_hex" in str(error.value)


def test_pseudonym_key_read_from_data_dir_file(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV_VAR, raising=False)
    monkeypatch.setenv("DM_DATA_DIR", str(tmp_path))
    (tmp_path / "pseudonym.key").write_text("8f" * 32 + "\n", encoding="utf-8")
    assert load_key() == KEY


def test_pseudonym_key_variable_wins_over_file(monkeypatch, tmp_path):
    key_file = tmp_path / "other.key"
    key_file.write_text("a text key of enough length", encoding="utf-8")
    monkeypatch.setenv(KEY_FILE_ENV_VAR, str(key_file))
    monkeypatch.setenv(KEY_ENV_VAR, "8f" * 32)
    assert load_key() == KEY
    monkeypatch.delenv(KEY_ENV_VAR)
    assert load_key() == b"a text key of enough length"


def test_pseudonym_key_file_short_key_not_shown(monkeypatch, tmp_path):
    key_file = tmp_path / "short.key"
    key_file.write_text("0123abcd", encoding="utf-8")
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV_VAR, str(key_file))
    with pytest.raises(PseudonymKeyError) as error:
        load_key()
    assert "4 bytes" in str(error.value)
    assert "0123abcd" not in str(error.value)


def test_pseudonym_key_hex_or_text(monkeypatch):
    monkeypatch.setenv(KEY_ENV_VAR, "8f" * 32)
    assert load_key() == KEY
    assert load_key("a text key of enough length") == b"a text key of enough length"
    with pytest.raises(PseudonymKeyError):
        load_key("short")


def test_pseudonyms_depend_on_key():
    one = Pseudonymiser(KEY).imsi("001010000000101")
    other = Pseudonymiser(b"another key of 32 bytes........!").imsi("001010000000101")
    assert one != other
    assert re.fullmatch(r"ue-[0-9a-f]{16}", one)


def test_pseudonyms_of_devices_and_addresses(pseudonymiser):
    assert pseudonymiser.pei("imei-352099001761481") == pseudonymiser.pei("imeisv-3520990017614823")
    assert pseudonymiser.gpsi("msisdn-491700000101") == pseudonymiser.gpsi("+491700000101")
    assert pseudonymiser.ip_address("2001:db8:0::1") == pseudonymiser.ip_address("2001:db8::1")
    assert pseudonymiser.ip_address("10.45.0.2").startswith("ip-")
    with pytest.raises(IdentityFormatError):
        pseudonymiser.subscriber("tmsi-1234")


def test_concealed_suci_is_unresolved(pseudonymiser):
    concealed = pseudonymiser.subscriber("suci-0-001-01-0000-1-1-4f2a9c00d1e2")
    assert concealed.resolved is False
    assert concealed.pseudonym.startswith("suci-")
    assert "4f2a9c00d1e2" not in concealed.pseudonym


def test_scrub_text_replaces_every_identity(pseudonymiser):
    line = (
        "11/02 08:14:03.119: [amf] INFO: [suci-0-001-01-0000-0-0-0000000101] UE SUPI"
        "[imsi-001010000000101] IPv4[10.45.0.2] IPv6[2001:db8::7] gpsi msisdn-491700000101 "
        "pei imeisv-3520990017614823 bare 001010000000101 (../src/amf/context.c:1835)"
    )
    scrubbed = pseudonymiser.scrub_text(line)
    assert clear_identities([scrubbed]) == []
    assert "10.45.0.2" not in scrubbed
    assert "2001:db8::7" not in scrubbed
    assert scrubbed.count(pseudonymiser.imsi("001010000000101")) == 3
    assert scrubbed.startswith("11/02 08:14:03.119: [amf] INFO:")
    assert "(../src/amf/context.c:1835)" in scrubbed


# Causes, clocks and configuration.


def test_cause_decimal_or_hex():
    assert parse_cause("23") == 23
    assert parse_cause("0x17") == 23
    assert parse_cause("0X6F") == 111
    with pytest.raises(CauseFormatError):
        parse_cause("congestion")


def test_hex_and_unknown_reject_causes(pseudonymiser):
    lines = [
        "11/02 08:00:00.000: [amf] INFO: InitialUEMessage (../src/amf/ngap-handler.c:401)",
        "11/02 08:00:00.000: [amf] INFO:     RAN_UE_NGAP_ID[9] AMF_UE_NGAP_ID[9] TAC[7] "
        "CellID[0x10] (../src/amf/ngap-handler.c:562)",
        "11/02 08:00:00.001: [amf] INFO: [imsi-001010000000909] Known UE by SUCI (x.c:1)",
        "11/02 08:00:00.001: [gmm] INFO: Registration request (../src/amf/gmm-sm.c:1061)",
        "11/02 08:00:00.050: [amf] WARNING: [imsi-001010000000909] Registration reject [0x17] "
        "(../src/amf/gmm-handler.c:1095)",
        "11/02 08:00:01.000: [amf] INFO: InitialUEMessage (../src/amf/ngap-handler.c:401)",
        "11/02 08:00:01.000: [amf] INFO:     RAN_UE_NGAP_ID[10] AMF_UE_NGAP_ID[10] TAC[7] "
        "CellID[0x10] (../src/amf/ngap-handler.c:562)",
        "11/02 08:00:01.001: [gmm] INFO: Registration request (../src/amf/gmm-sm.c:1061)",
        "11/02 08:00:01.020: [amf] WARNING: [(null)] Registration reject [200] (x.c:1)",
    ]
    parsed = parse_open5gs_amf_log(lines, source(), pseudonymiser, collected_on=date(2026, 11, 2))
    assert [a.cause_code for a in parsed.attempts] == [23, 200]
    assert parsed.attempts[0].cause_name == "UE security capabilities mismatch"
    assert parsed.attempts[1].cause_name is None


def test_open5gs_year_rolls_back_in_january():
    clock = Open5gsClock(parse_timezone("UTC"), date(2027, 1, 2))
    assert clock.to_utc(12, 31, 23, 59, 59, 0) == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert clock.to_utc(1, 1, 0, 0, 1, 0) == datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert clock.to_utc(1, 3, 1, 0, 0, 0) == datetime(2027, 1, 3, 1, 0, 0, tzinfo=UTC)


def test_open5gs_local_zone_to_utc():
    clock = Open5gsClock(parse_timezone("Asia/Kolkata"), date(2026, 11, 2))
    assert clock.to_utc(11, 2, 13, 44, 3, 119000) == datetime(
        2026, 11, 2, 8, 14, 3, 119000, tzinfo=UTC
    )


def test_open5gs_repeated_hour_keeps_order():
    clock = Open5gsClock(parse_timezone("Europe/Berlin"), date(2026, 10, 25))
    first = clock.to_utc(10, 25, 2, 30, 0, 0)
    second = clock.to_utc(10, 25, 2, 10, 0, 0)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert second == datetime(2026, 10, 25, 1, 10, tzinfo=UTC)


def test_sources_config_rejects_bad_entries():
    good = {
        "pattern": "*.log",
        "site_id": "SITE001",
        "nf": "amf",
        "instance": "amf-1",
        "format": "open5gs_log",
        "timezone": "UTC",
    }
    for change, expected in (
        ({"site_id": "A|B"}, "A|B"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"format": "syslog"}, "syslog"),
        ({"nf": "upf"}, "upf"),
        ({"collected_on": "02/11/2026"}, "02/11/2026"),
    ):
        config = parse_sources_config({"sources": [good, {**good, **change}]})
        assert len(config.sources) == 1
        assert [entry.number for entry in config.rejected] == [2]
        assert expected in config.rejected[0].reason
        assert "sources.json entry 2" in config.rejected[0].reason
    without_zone = {k: v for k, v in good.items() if k != "timezone"}
    config = parse_sources_config({"sources": [without_zone]})
    assert config.sources == ()
    assert "timezone" in config.rejected[0].reason


def test_invalid_site_id_names_sources_entry():
    entry = {
        "pattern": "SITE200/*.log",
        "site_id": "SITE|200",
        "nf": "amf",
        "instance": "amf-1",
        "format": "open5gs_log",
        "timezone": "UTC",
    }
    config = parse_sources_config({"sources": [entry]})
    reason = config.rejected[0].reason
    assert "site id 'SITE|200' is invalid (contains '|')" in reason
    assert reason.startswith("sources.json entry 1: site id")
    assert reason.endswith("correct the site_id of this entry")
    assert "site_<ID> group" not in reason
    assert config.rejected_match("SITE200/amf.log") is config.rejected[0]


def test_sources_config_dates_from_file_names():
    config = parse_sources_config(
        {
            "sources": [
                {
                    "pattern": "SITE001/*/*",
                    "site_id": "SITE001",
                    "nf": "amf",
                    "instance": "amf-1",
                    "format": "prometheus_text",
                    "timezone": "UTC",
                }
            ]
        }
    )
    entry = config.match("SITE001/metrics/amf-1-20261102T080000Z.prom")
    assert entry is not None
    assert entry.scrape_time("x/amf-1-20261102T080000Z.prom") == datetime(
        2026, 11, 2, 8, tzinfo=UTC
    )
    assert entry.collection_date("amf-2026-11-02.log") == date(2026, 11, 2)
    assert config.match("SITE002/metrics/amf.prom") is None
    with pytest.raises(SourceConfigError, match="collected_on"):
        entry.collection_date("amf.log")


# Malformed input.


def test_malformed_log_lines_are_quarantined(pseudonymiser):
    lines = [
        "Open5GS daemon v2.7.2",
        "",
        "11/02 08:00:00.000: [amf] INFO: InitialUEMessage (../src/amf/ngap-handler.c:401)",
        "garbage from imsi-001010000000777 after a crash",
        "13/45 08:00:00.000: [amf] INFO: month 13 (x.c:1)",
        "11/02 08:00:00.000: [amf] INFO:     RAN_UE_NGAP_ID[1] AMF_UE_NGAP_ID[1] TAC[7] "
        "CellID[0x10] (../src/amf/ngap-handler.c:562)",
        "11/02 08:00:00.001: [gmm] INFO: Registration request (../src/amf/gmm-sm.c:1061)",
        "11/02 08:00:00.050: [gmm] INFO: [imsi-0010] Registration complete (x.c:1)",
        "11/02 08:00:00.060: [gmm] INFO: [tmsi-77] Registration complete (x.c:1)",
    ]
    parsed = parse_open5gs_amf_log(lines, source(), pseudonymiser, collected_on=date(2026, 11, 2))
    locations = [q.location for q in parsed.quarantined]
    assert locations == ["line 4", "line 5", "line 8", "line 9"]
    assert clear_identities([q.content for q in parsed.quarantined]) == []
    assert pseudonymiser.imsi("001010000000777") in parsed.quarantined[0].content
    assert len(parsed.attempts) == 1
    assert parsed.attempts[0].outcome == "no_response"
    assert "unknown format" in parsed.quarantined[2].reason


def test_late_outcome_after_window_is_no_response(pseudonymiser):
    lines = [
        "11/02 08:00:00.000: [amf] INFO:     RAN_UE_NGAP_ID[1] AMF_UE_NGAP_ID[1] TAC[7] "
        "CellID[0x10] (../src/amf/ngap-handler.c:562)",
        "11/02 08:00:00.000: [amf] INFO: [imsi-001010000000101] Known UE (x.c:1)",
        "11/02 08:00:00.001: [gmm] INFO: Registration request (../src/amf/gmm-sm.c:1061)",
        "11/02 08:00:12.000: [gmm] INFO: [imsi-001010000000101] Registration complete (x.c:1)",
    ]
    parsed = parse_open5gs_amf_log(
        lines, source(), pseudonymiser, collected_on=date(2026, 11, 2), response_window_seconds=10
    )
    assert parsed.attempts[0].outcome == "no_response"
    assert parsed.stats.orphan_outcomes == 1
    wider = parse_open5gs_amf_log(
        lines, source(), pseudonymiser, collected_on=date(2026, 11, 2), response_window_seconds=15
    )
    assert wider.attempts[0].outcome == "complete"
    assert wider.attempts[0].latency_ms == 11999.0


def test_smf_log_session_outcomes(pseudonymiser):
    lines = [
        "11/02 08:00:00.000: [gsm] INFO: [imsi-001010000000101:1] PDU session establishment "
        "request DNN[internet] S_NSSAI[SST:1 SD:0x000001] (../src/smf/gsm-sm.c:312)",
        "11/02 08:00:00.010: [gsm] INFO: [imsi-001010000000202:2] PDU session establishment "
        "request DNN[ims] S_NSSAI[SST:1 SD:0x000002] (../src/smf/gsm-sm.c:312)",
        "11/02 08:00:00.080: [smf] INFO: UE SUPI[imsi-001010000000101] DNN[internet] "
        "IPv4[10.45.0.2] IPv6[] (../src/smf/npcf-handler.c:542)",
        "11/02 08:00:00.090: [gsm] WARNING: [imsi-001010000000202:2] PDU session establishment "
        "reject [0x1b] (../src/smf/gsm-sm.c:415)",
        "11/02 08:00:01.000: [gsm] INFO: [imsi-001010000000303:1] PDU session establishment "
        "request DNN[internet] (../src/smf/gsm-sm.c:312)",
    ]
    parsed = parse_open5gs_smf_log(
        lines, source("smf-1", nf="smf"), pseudonymiser, collected_on=date(2026, 11, 2)
    )
    accepted, rejected, unanswered = parsed.attempts
    assert accepted.outcome == "accept"
    assert accepted.latency_ms == 80.0
    assert accepted.dnn == "internet"
    assert accepted.snssai_sst == 1
    assert accepted.snssai_sd == "000001"
    assert accepted.ue_ipv4_pseudonym == pseudonymiser.ip_address("10.45.0.2")
    assert rejected.outcome == "reject"
    assert rejected.cause_code == 27
    assert rejected.cause_name == "Missing or unknown DNN"
    assert rejected.pdu_session_id == 2
    assert unanswered.outcome == "no_response"
    for attempt in parsed.attempts:
        assert clear_identities(astuple(attempt)) == []


# Exposition format.


def test_exposition_escapes_and_special_values():
    text = (
        "# HELP x_total Requests with \\\\ and \\n in help\n"
        "# TYPE x_total counter\n"
        'x_total{path="/a\\"b\\\\c\\nd",code="200",} 3 1762070400000\n'
        "# a free comment\n"
        "y NaN\n"
        'z{a="1"} +Inf\n'
        'w { a = "2" } -1.5e3\n'
        "broken{a=1} 2\n"
        "no_value\n"
        'dup{a="1"} 1\n'
        'dup{a="1"} 2\n'
    )
    exposition = parse_exposition(text)
    assert exposition.helps["x_total"] == "Requests with \\ and \n in help"
    first = exposition.samples[0]
    assert first.labels == (("code", "200"), ("path", '/a"b\\c\nd'))
    assert first.timestamp_ms == 1762070400000
    assert labels_key(first.labels) == 'code="200",path="/a\\"b\\\\c\\nd"'
    values = {s.name: s.value for s in exposition.samples}
    assert values["y"] != values["y"]
    assert values["z"] == float("inf")
    assert values["w"] == -1500.0
    assert [number for number, _, _ in exposition.errors] == [8, 9]


def test_scrape_duplicate_series_quarantined(pseudonymiser):
    text = '# TYPE dup counter\ndup{a="1"} 1\ndup{a="1"} 2\nneg_counter_total -4\n'
    scrape = parse_scrape(
        text, source(format="prometheus_text"), pseudonymiser, scraped_at=datetime.now(UTC)
    )
    assert [q.location for q in scrape.quarantined] == ["line 3"]
    assert len(scrape.samples) == 2


def test_unlabelled_series_kept_apart(pseudonymiser):
    config = source("smf-1", nf="smf", format="prometheus_text")
    before = parse_scrape(
        "# TYPE fivegs_smffunction_sm_pdusessioncreationreq counter\n"
        "fivegs_smffunction_sm_pdusessioncreationreq 10\n"
        'fivegs_smffunction_sm_pdusessioncreationreq{snssai="1-000001"} 10\n'
        "process_start_time_seconds 100\n",
        config,
        pseudonymiser,
        scraped_at=datetime(2026, 11, 2, 8, tzinfo=UTC),
    )
    after = parse_scrape(
        "# TYPE fivegs_smffunction_sm_pdusessioncreationreq counter\n"
        "fivegs_smffunction_sm_pdusessioncreationreq 25\n"
        'fivegs_smffunction_sm_pdusessioncreationreq{snssai="1-000001"} 20\n'
        'fivegs_smffunction_sm_pdusessioncreationreq{snssai="1-000002"} 5\n'
        "process_start_time_seconds 100\n",
        config,
        pseudonymiser,
        scraped_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
    )
    increases = {i.labels_key: i for i in counter_increases(before, after)}
    assert increases[""].increase == 15
    assert increases['snssai="1-000001"'].increase == 10
    assert increases['snssai="1-000002"'].increase == 5
    assert increases['snssai="1-000002"'].series_started is True
    assert not any(i.counter_reset for i in increases.values())
    with pytest.raises(ValueError, match="time order"):
        counter_increases(after, before)


# Charging data records.


def cdr_record(**changes) -> dict:
    record = {
        "recordType": "chargingFunctionRecord",
        "subscriberIdentifier": "imsi-001010000000101",
        "chargingID": 4000001,
        "recordOpeningTime": "2026-11-02T08:14:04.300Z",
        "duration": 3600,
        "recordSequenceNumber": 1,
        "causeForRecClosing": "timeLimit",
        "pDUSessionChargingInformation": {
            "userIdentifier": "msisdn-491700000101",
            "userEquipmentInfo": "imeisv-3520990017614823",
            "pDUSessionId": 1,
            "networkSliceInstanceID": {"sST": 1, "sD": "000001"},
            "dataNetworkNameIdentifier": "internet",
            "rATType": "NR",
            "userLocationInformation": {
                "nrLocation": {
                    "tai": {"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "000007"},
                    "ncgi": {"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": "000000010"},
                }
            },
            "pDUAddress": {"pDUIPv4Address": "10.45.0.2"},
        },
        "listOfMultipleUnitUsage": [
            {
                "ratingGroup": 10,
                "usedUnitContainers": [
                    {
                        "localSequenceNumber": 1,
                        "timeOfFirstUsage": "2026-11-02T08:14:04.300Z",
                        "timeOfLastUsage": "2026-11-02T08:44:04.300Z",
                        "time": 1800,
                        "uplinkVolume": 1200,
                        "downlinkVolume": 56000,
                    },
                    {
                        "localSequenceNumber": 2,
                        "timeOfFirstUsage": "2026-11-02T08:44:04.300Z",
                        "timeOfLastUsage": "2026-11-02T09:14:04.300Z",
                        "time": 1800,
                        "uplinkVolume": 800,
                        "downlinkVolume": 4000,
                        "pDUContainerInformation": {
                            "userLocationInformation": {
                                "nrLocation": {"ncgi": {"nrCellId": "000000011"}}
                            }
                        },
                    },
                ],
            }
        ],
    }
    record.update(changes)
    return record


def test_cdr_json_one_row_per_container(pseudonymiser):
    text = json.dumps([cdr_record(), cdr_record(chargingID="not-a-number")])
    parsed = parse_chf_cdr_json(
        text, source("chf-1", nf="chf", format="chf_cdr_json"), pseudonymiser
    )
    assert parsed.records == 2
    assert [q.location for q in parsed.quarantined] == ["record 2"]
    first, second = parsed.containers
    assert first.charging_id == 4000001
    assert first.partial_record is True
    assert first.tac == 7
    assert first.nr_cell_id == 0x10
    assert first.container_nr_cell_id == 0x10
    assert second.container_nr_cell_id == 0x11
    assert (first.uplink_octets, first.downlink_octets) == (1200, 56000)
    assert second.event_date == date(2026, 11, 2)
    assert first.ue_pseudonym == pseudonymiser.imsi("001010000000101")
    assert first.pei_pseudonym == pseudonymiser.pei("imei-352099001761481")
    for container in parsed.containers:
        assert clear_identities(astuple(container)) == []
    assert clear_identities([q.content for q in parsed.quarantined]) == []


def test_cdr_json_lines_keep_good_records(pseudonymiser):
    text = json.dumps(cdr_record()) + "\n{broken\n" + json.dumps(cdr_record(chargingID=5)) + "\n"
    parsed = parse_chf_cdr_json(
        text, source("chf-1", nf="chf", format="chf_cdr_json"), pseudonymiser
    )
    assert [q.location for q in parsed.quarantined] == ["line 2"]
    assert {c.charging_id for c in parsed.containers} == {4000001, 5}


def test_cdr_csv_rows(pseudonymiser):
    header = ",".join(CSV_COLUMNS)
    row = (
        "4000001,,,imsi-001010000000101,msisdn-491700000101,imeisv-3520990017614823,"
        "2026-11-02T08:14:04.300Z,120,normalRelease,1,1,000001,internet,NR,001,01,000007,"
        "000000010,10.45.0.2,,10,1,2026-11-02T08:14:04.300Z,2026-11-02T08:16:04.300Z,120,"
        "100,900,000000011"
    )
    bad = row.replace("4000001", "x", 1)
    parsed = parse_chf_cdr_csv(
        f"{header}\n{row}\n{bad}\n", source("chf-1", nf="chf", format="chf_cdr_csv"), pseudonymiser
    )
    assert [q.location for q in parsed.quarantined] == ["line 3"]
    container = parsed.containers[0]
    assert container.partial_record is False
    assert container.container_nr_cell_id == 0x11
    assert container.nr_cell_id == 0x10
    assert container.downlink_octets == 900
    assert container.ue_ipv4_pseudonym == pseudonymiser.ip_address("10.45.0.2")


# Generator.


def test_generator_is_deterministic(tmp_path):
    settings = GeneratorSettings(
        sites=2, days=1, registrations_per_site_day=300, ues_per_site=200, workers=1
    )
    first = generate_core5g_landing(tmp_path / "a", settings)
    second = generate_core5g_landing(tmp_path / "b", settings)

    def digests(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*")
            if p.is_file()
        }

    assert digests(first.folder) == digests(second.folder)
    assert first.registrations >= 600
    assert (tmp_path / "a" / "sources.json").is_file()
    assert (tmp_path / "a" / "SITE001" / "amf-1" / "amf-2026-11-01.log").is_file()


def test_generator_rejects_bad_settings():
    with pytest.raises(ValueError, match="scrape_interval_minutes"):
        GeneratorSettings(scrape_interval_minutes=7)
    with pytest.raises(ValueError, match="reject_share"):
        GeneratorSettings(reject_share=1.5)
