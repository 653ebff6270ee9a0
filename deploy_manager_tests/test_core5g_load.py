"""Loading 5G core landing files into a real PostgreSQL database: the input cases, generated
files against the generator's counts, idempotency, quarantine and the absence of clear
identities in every raw table."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from deploy_manager.core5g.load import ingest_core5g_file, ingest_core5g_folder
from deploy_manager.core5g.sources.config import load_sources_config
from deploy_manager.core5g.sources.generator import GeneratorSettings, generate_core5g_landing
from deploy_manager.core5g.tables import copy_encoded, encode_rows
from deploy_manager.db.connection import connect, drop_database, ensure_database
from deploy_manager.db.migrate import apply_migrations, migration_files
from deploy_manager.ingest.pseudonymise import Pseudonymiser

REPO = Path(__file__).resolve().parent.parent
CASES_DIR = Path(os.environ.get("DM_CASES_DIR", REPO.parent / "shared" / "cases"))
SERVER_URL = os.environ.get("DM_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
KEY = "5f" * 32

CORE5G_TABLES = (
    "raw.amf_registration_attempts",
    "raw.pdu_session_attempts",
    "raw.nf_scrapes",
    "raw.nf_metric_samples",
    "raw.nf_counter_increases",
    "raw.chf_cdrs",
)
# Identities in clear: prefixed SUPIs, SUCIs, GPSIs and PEIs, bare 15-digit IMSIs or IMEIs,
# and UE addresses from the pools the generator and the cases use.
CLEAR_IDENTITY = (
    r"(imsi|suci|msisdn|imei|imeisv)-[0-9]"
    r"|(^|[^0-9])[0-9]{15}([^0-9]|$)"
    r"|(^|[^0-9.])10\.(4[5-9]|5[0-9])\.[0-9]+\.[0-9]+"
)
PSEUDONYM = r"(ue|suci|gpsi|pei|ip)-[0-9a-f]{16}"

CASE_SOURCES = {
    "sources": [
        {
            "pattern": "open5gs-amf.log",
            "site_id": "SITE104",
            "nf": "amf",
            "instance": "amf-1",
            "format": "open5gs_log",
            "timezone": "UTC",
            "collected_on": "2026-11-02",
        },
        {
            "pattern": "free5gc-amf.log",
            "site_id": "SITE104",
            "nf": "amf",
            "instance": "amf-2",
            "format": "free5gc_log",
            "timezone": "+05:30",
        },
        {
            "pattern": "open5gs-amf-metrics.prom",
            "site_id": "SITE104",
            "nf": "amf",
            "instance": "amf-1",
            "format": "prometheus_text",
            "timezone": "UTC",
            "scraped_at": "2026-11-02T08:00:00Z",
        },
        {
            "pattern": "open5gs-amf-metrics-after-restart.prom",
            "site_id": "SITE104",
            "nf": "amf",
            "instance": "amf-1",
            "format": "prometheus_text",
            "timezone": "UTC",
            "scraped_at": "2026-11-02T09:00:00Z",
        },
        {
            "pattern": "broken-amf.log",
            "site_id": "SITE105",
            "nf": "amf",
            "instance": "amf-9",
            "format": "open5gs_log",
            "timezone": "UTC",
            "collected_on": "2026-11-02",
        },
    ]
}

BROKEN_LOG = (
    "11/02 10:00:00.000: [amf] INFO: InitialUEMessage (../src/amf/ngap-handler.c:401)\n"
    "11/02 10:00:00.000: [amf] INFO:     RAN_UE_NGAP_ID[1] AMF_UE_NGAP_ID[1] TAC[7] "
    "CellID[0x10] (../src/amf/ngap-handler.c:562)\n"
    "%%% torn write from imsi-001010000000999 at 10.45.9.9 %%%\n"
    "11/02 10:00:00.001: [amf] INFO: [suci-0-001-01-0000-0-0-0000000999] Unknown UE by SUCI "
    "(../src/amf/context.c:1835)\n"
    "11/02 10:00:00.001: [gmm] INFO: Registration request (../src/amf/gmm-sm.c:1061)\n"
    "11/02 10:00:00.090: [gmm] INFO: [imsi-001010000000999] Registration complete "
    "(../src/amf/gmm-sm.c:2146)\n"
)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A database of this module's own, migrated, and dropped at the end."""
    url = f"{SERVER_URL}/deploy_manager_test_core5g_{secrets.token_hex(4)}"
    ensure_database(url)
    with connect(url) as conn:
        apply_migrations(conn)
        conn.commit()
    yield url
    drop_database(url)


@pytest.fixture
def conn(database_url) -> Iterator[psycopg.Connection]:
    """A connection to the module's database with the 5G core tables and quarantine empty."""
    with connect(database_url, autocommit=True) as connection:
        for table in (*CORE5G_TABLES, "raw.quarantine", "raw.ingested_files"):
            connection.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(table)))
        yield connection


@pytest.fixture
def case_landing(tmp_path) -> Path:
    landing = tmp_path / "core5g"
    landing.mkdir()
    for path in (CASES_DIR / "core5g").iterdir():
        shutil.copy(path, landing / path.name)
    (landing / "broken-amf.log").write_text(BROKEN_LOG)
    (landing / "sources.json").write_text(json.dumps(CASE_SOURCES))
    (landing / "README.txt").write_text("not a source")
    return landing


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    settings = GeneratorSettings(
        sites=3,
        days=2,
        registrations_per_site_day=1500,
        ues_per_site=400,
        amf_restart_probability=0.6,
        smf_restart_probability=0.4,
        workers=1,
    )
    return generate_core5g_landing(tmp_path_factory.mktemp("generated"), settings)


def dump(conn: psycopg.Connection) -> dict[str, list]:
    """Every row of the 5G core tables and their quarantine rows, sorted."""
    tables = {}
    for table in CORE5G_TABLES:
        rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.SQL(table))).fetchall()
        tables[table] = sorted(rows, key=repr)
    quarantine = conn.execute(
        "SELECT id, source_kind, source_path, location, reason, content, quarantined_at"
        " FROM raw.quarantine"
    ).fetchall()
    tables["raw.quarantine"] = sorted(quarantine, key=repr)
    return tables


def clear_identity_rows(conn: psycopg.Connection) -> dict[str, int]:
    """Rows of every table in schema raw whose text matches CLEAR_IDENTITY, by table."""
    found = {}
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
    ).fetchall()
    for (table,) in tables:
        columns = [
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'raw' AND table_name = %s AND column_name NOT LIKE %s",
                (table, "%sha256"),
            )
        ]
        text = sql.SQL(" || ' ' || ").join(
            sql.SQL("coalesce({}::text, '')").format(sql.Identifier(c)) for c in columns
        )
        # Pseudonyms are hex, so one may contain a run of 15 digits: they are cut out first.
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE regexp_replace({}, %s, '', 'g') ~ %s").format(
                sql.Identifier("raw", table), text
            ),
            (PSEUDONYM, CLEAR_IDENTITY),
        ).fetchone()[0]
        if count:
            found[table] = count
    return found


def test_cases_load_expected_rows(conn, case_landing):
    summary = ingest_core5g_folder(conn, case_landing, KEY)
    assert summary.files_ingested == 5
    assert summary.unmatched_files == ["README.txt"]
    assert summary.failed_files == {}
    assert summary.rows["amf_registration_attempts"] == 8
    assert summary.rows["nf_metric_samples"] == 11
    assert summary.rows["nf_counter_increases"] == 3


def test_cases_success_rates_in_sql(conn, case_landing):
    ingest_core5g_folder(conn, case_landing, KEY)
    rates = dict(
        conn.execute(
            "SELECT amf_instance, round(100.0 * count(*) FILTER"
            " (WHERE outcome IN ('accept', 'complete')) / count(*), 1)"
            " FROM raw.amf_registration_attempts WHERE event_date = %s AND site_id = %s"
            " GROUP BY amf_instance",
            (date(2026, 11, 2), "SITE104"),
        ).fetchall()
    )
    assert float(rates["amf-1"]) == 20.0
    assert float(rates["amf-2"]) == 50.0


def test_cases_attempt_details_in_sql(conn, case_landing):
    ingest_core5g_folder(conn, case_landing, KEY)
    rows = conn.execute(
        "SELECT attempt_key, outcome, cause_code, cause_name, cause_logged, latency_ms,"
        " cell_id, tac FROM raw.amf_registration_attempts WHERE amf_instance = 'amf-1'"
        " ORDER BY line_number"
    ).fetchall()
    assert [r[0] for r in rows] == ["1/1", "2/2", "3/3", "4/4", "5/5"]
    assert [r[1] for r in rows] == ["complete", "reject", "reject", "reject", "no_response"]
    assert [r[2] for r in rows] == [None, 9, 9, 97, None]
    assert rows[0][5] == 68.0
    assert {r[6] for r in rows} == {16, 17}
    assert {r[7] for r in rows} == {7}
    distinct_rejected = conn.execute(
        "SELECT count(DISTINCT ue_pseudonym) FROM raw.amf_registration_attempts"
        " WHERE amf_instance = 'amf-1' AND cause_code = 9"
    ).fetchone()[0]
    assert distinct_rejected == 1
    free5gc = conn.execute(
        "SELECT outcome, cause_code, cause_name, cause_logged, round(latency_ms::numeric, 1),"
        " requested_at AT TIME ZONE 'UTC', accept_retransmissions"
        " FROM raw.amf_registration_attempts WHERE amf_instance = 'amf-2' ORDER BY line_number"
    ).fetchall()
    assert free5gc[0][0] == "complete"
    assert float(free5gc[0][4]) == 82.5
    assert free5gc[0][5].isoformat() == "2026-11-02T08:14:03.119027"
    assert free5gc[0][6] == 1
    assert free5gc[1][:4] == ("reject", None, "not logged", False)


def test_cases_scrape_increases_in_sql(conn, case_landing):
    ingest_core5g_folder(conn, case_landing, KEY)
    increases = dict(
        conn.execute(
            "SELECT metric || '{' || labels_key || '}', increase FROM raw.nf_counter_increases"
            " WHERE event_date = %s AND site_id = %s",
            (date(2026, 11, 2), "SITE104"),
        ).fetchall()
    )
    assert increases == {
        "fivegs_amffunction_rm_reginitreq{}": 90,
        "fivegs_amffunction_rm_reginitsucc{}": 88,
        'fivegs_amffunction_rm_reginitfail{cause="9"}': 2,
    }
    ran_ue = conn.execute(
        "SELECT value, value_text, quality FROM raw.nf_metric_samples"
        " WHERE metric = 'ran_ue' ORDER BY scraped_at"
    ).fetchall()
    assert ran_ue == [(310.0, "310", "ok"), (None, "-3", "negative_gauge")]


def test_scrapes_in_any_order_same_increases(conn, case_landing):
    config = load_sources_config(case_landing / "sources.json")
    pseudonymiser = Pseudonymiser(bytes.fromhex(KEY))
    for name in ("open5gs-amf-metrics-after-restart.prom", "open5gs-amf-metrics.prom"):
        ingest_core5g_file(conn, case_landing / name, name, config.match(name), pseudonymiser)
    reversed_order = sorted(
        conn.execute("SELECT metric, labels_key, increase FROM raw.nf_counter_increases")
    )
    assert len(reversed_order) == 3
    assert ("fivegs_amffunction_rm_reginitreq", "", 90.0) in reversed_order


def test_ingest_twice_changes_nothing(conn, case_landing):
    ingest_core5g_folder(conn, case_landing, KEY)
    first = dump(conn)
    again = ingest_core5g_folder(conn, case_landing, KEY)
    assert again.files_unchanged == 5
    assert again.files_ingested == 0
    assert dump(conn) == first
    forced = ingest_core5g_folder(conn, case_landing, KEY, force=True)
    assert forced.files_ingested == 5
    assert dump(conn) == first


def test_changed_file_replaces_its_rows(conn, case_landing):
    ingest_core5g_folder(conn, case_landing, KEY)
    broken = case_landing / "broken-amf.log"
    broken.write_text(BROKEN_LOG.replace("%%% torn write", "11/02 10:00:00.000: [amf] INFO: x"))
    summary = ingest_core5g_folder(conn, case_landing, KEY)
    assert summary.files_ingested == 1
    assert summary.files_unchanged == 4
    attempts = conn.execute(
        "SELECT count(*) FROM raw.amf_registration_attempts WHERE source_path = 'broken-amf.log'"
    ).fetchone()[0]
    assert attempts == 1
    stale = conn.execute(
        "SELECT count(*) FROM raw.quarantine WHERE source_path = 'broken-amf.log'"
    ).fetchone()[0]
    assert stale == 0
    files = conn.execute(
        "SELECT count(*) FROM raw.ingested_files WHERE source_path = 'broken-amf.log'"
    ).fetchone()[0]
    assert files == 1


def test_malformed_line_quarantined_with_location(conn, case_landing):
    ingest_core5g_folder(conn, case_landing, KEY)
    rows = conn.execute(
        "SELECT source_kind, source_path, location, reason, content FROM raw.quarantine"
        " WHERE source_path <> 'README.txt'"
    ).fetchall()
    assert len(rows) == 1
    kind, path, location, reason, content = rows[0]
    assert kind == "core5g_open5gs_log"
    assert path == "broken-amf.log"
    assert location == "line 3"
    assert "Open5GS log format" in reason
    assert "imsi-" not in content
    assert "10.45.9.9" not in content
    assert Pseudonymiser(bytes.fromhex(KEY)).imsi("001010000000999") in content
    rest = conn.execute(
        "SELECT outcome, latency_ms FROM raw.amf_registration_attempts"
        " WHERE source_path = 'broken-amf.log'"
    ).fetchall()
    assert rest == [("complete", 89.0)]


def test_raw_tables_hold_no_clear_identity(conn, case_landing, generated):
    ingest_core5g_folder(conn, case_landing, KEY)
    ingest_core5g_folder(conn, generated.folder, KEY)
    total = conn.execute("SELECT count(*) FROM raw.chf_cdrs").fetchone()[0]
    assert total > 0
    assert clear_identity_rows(conn) == {}


def test_scan_detects_clear_identity(conn):
    conn.execute(
        "INSERT INTO raw.quarantine (source_kind, source_path, location, reason, content,"
        " content_sha256) VALUES ('test', 'x', 'line 1', 'probe', 'imsi-001010000000101', 'p')"
    )
    assert clear_identity_rows(conn) == {"quarantine": 1}


def test_generated_files_match_generator_counts(conn, generated):
    summary = ingest_core5g_folder(conn, generated.folder, KEY)
    assert summary.unmatched_files == []
    assert summary.failed_files == {}
    assert summary.quarantined == 0
    assert summary.orphan_outcomes == 0
    for site in generated.sites:
        registrations = Counter(
            {
                (day, outcome): count
                for day, outcome, count in conn.execute(
                    "SELECT event_date, outcome, count(*) FROM raw.amf_registration_attempts"
                    " WHERE site_id = %s GROUP BY 1, 2",
                    (site.site_id,),
                )
            }
        )
        assert registrations == site.registrations
        causes = Counter(
            {
                (day, cause): count
                for day, cause, count in conn.execute(
                    "SELECT event_date, cause_code, count(*) FROM raw.amf_registration_attempts"
                    " WHERE site_id = %s AND outcome = 'reject' GROUP BY 1, 2",
                    (site.site_id,),
                )
            }
        )
        assert causes == site.reject_causes
        sessions = Counter(
            {
                (day, outcome): count
                for day, outcome, count in conn.execute(
                    "SELECT event_date, outcome, count(*) FROM raw.pdu_session_attempts"
                    " WHERE site_id = %s GROUP BY 1, 2",
                    (site.site_id,),
                )
            }
        )
        assert sessions == site.pdu_sessions
        increases = Counter(
            {
                (instance, metric, key): total
                for instance, metric, key, total in conn.execute(
                    "SELECT instance, metric, labels_key, sum(increase)"
                    " FROM raw.nf_counter_increases WHERE site_id = %s GROUP BY 1, 2, 3",
                    (site.site_id,),
                )
            }
        )
        expected = Counter({k: v for k, v in site.counter_increases.items() if v})
        assert increases == expected
        containers = Counter(
            dict(
                conn.execute(
                    "SELECT event_date, count(*) FROM raw.chf_cdrs WHERE site_id = %s GROUP BY 1",
                    (site.site_id,),
                ).fetchall()
            )
        )
        assert containers == site.cdr_containers
        negative = conn.execute(
            "SELECT count(*) FROM raw.nf_metric_samples"
            " WHERE site_id = %s AND quality = 'negative_gauge'",
            (site.site_id,),
        ).fetchone()[0]
        assert negative == site.negative_gauges


def test_generated_restarts_show_counter_resets(conn, generated):
    ingest_core5g_folder(conn, generated.folder, KEY)
    restarts = sum(sum(site.restarts.values()) for site in generated.sites)
    assert restarts > 0
    resets = conn.execute(
        "SELECT count(DISTINCT (site_id, instance, interval_end))"
        " FROM raw.nf_counter_increases WHERE counter_reset"
    ).fetchone()[0]
    assert resets == restarts


def test_partition_index_exists(conn):
    indexed = {
        row[0]
        for row in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE schemaname = 'raw'"
            " AND indexdef LIKE '%(event_date, site_id)%'"
        )
    }
    for table in CORE5G_TABLES:
        assert table.removeprefix("raw.") in indexed


def test_migration_applies_twice(conn):
    text = dict(migration_files())["0002_raw_core5g"]
    conn.execute(text)
    conn.execute(text)
    count = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw'"
        " AND table_name = ANY(%s)",
        ([t.removeprefix("raw.") for t in CORE5G_TABLES],),
    ).fetchone()[0]
    assert count == len(CORE5G_TABLES)


def test_missing_key_stops_ingest(conn, case_landing, monkeypatch, tmp_path):
    monkeypatch.delenv("DM_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("DM_PSEUDONYM_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(RuntimeError, match="DM_PSEUDONYM_KEY"):
        ingest_core5g_folder(conn, case_landing)
    assert conn.execute("SELECT count(*) FROM raw.amf_registration_attempts").fetchone()[0] == 0


def test_missing_folder_named_in_error(conn, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        ingest_core5g_folder(conn, missing, KEY)


def test_unmatched_file_is_quarantined(conn, case_landing):
    ingest_core5g_folder(conn, case_landing, KEY)
    rows = conn.execute(
        "SELECT source_kind, location, reason, content FROM raw.quarantine"
        " WHERE source_path = 'README.txt'"
    ).fetchall()
    assert len(rows) == 1
    kind, location, reason, content = rows[0]
    assert kind == "core5g_unmatched"
    assert location == "file"
    assert "no entry of sources.json matches this file" in reason
    assert content == "not a source"


def test_invalid_entry_blocks_only_its_files(conn, case_landing):
    config = json.loads((case_landing / "sources.json").read_text())
    bad_entry = {**config["sources"][0], "pattern": "SITE200/*.log", "site_id": "SITE|200"}
    config["sources"].append(bad_entry)
    (case_landing / "sources.json").write_text(json.dumps(config))
    (case_landing / "SITE200").mkdir()
    shutil.copy(case_landing / "open5gs-amf.log", case_landing / "SITE200" / "amf.log")
    summary = ingest_core5g_folder(conn, case_landing, KEY)
    entry_rows = conn.execute(
        "SELECT location, reason FROM raw.quarantine WHERE source_path = 'sources.json'"
    ).fetchall()
    file_reason = conn.execute(
        "SELECT reason FROM raw.quarantine WHERE source_path = 'SITE200/amf.log'"
    ).fetchone()[0]
    assert summary.files_ingested == 5
    assert len(entry_rows) == 1
    assert entry_rows[0][0] == f"entry {len(config['sources'])}"
    assert "site id 'SITE|200' is invalid" in entry_rows[0][1]
    assert f"sources.json entry {len(config['sources'])}, whose pattern" in file_reason


def test_duplicate_scrape_keeps_file_text(conn, case_landing):
    config = json.loads((case_landing / "sources.json").read_text())
    scrape = next(e for e in config["sources"] if e["format"] == "prometheus_text")
    copy_name = "zz-copy-" + scrape["pattern"].rsplit("/", 1)[-1]
    config["sources"].append({**scrape, "pattern": copy_name})
    (case_landing / "sources.json").write_text(json.dumps(config))
    original = case_landing / scrape["pattern"].rsplit("/", 1)[-1]
    shutil.copy(original, case_landing / copy_name)
    ingest_core5g_folder(conn, case_landing, KEY)
    rows = conn.execute(
        "SELECT reason, content FROM raw.quarantine WHERE source_path = %s", (copy_name,)
    ).fetchall()
    assert len(rows) == 1
    assert "is already loaded from" in rows[0][0]
    assert rows[0][1] == original.read_text()


def test_utf16_log_is_quarantined(conn, case_landing):
    broken = case_landing / "broken-amf.log"
    broken.write_bytes(BROKEN_LOG.encode("utf-16"))
    summary = ingest_core5g_folder(conn, case_landing, KEY)
    rows = conn.execute(
        "SELECT location, reason, content FROM raw.quarantine WHERE source_path = 'broken-amf.log'"
    ).fetchall()
    attempts = conn.execute(
        "SELECT count(*) FROM raw.amf_registration_attempts WHERE source_path = 'broken-amf.log'"
    ).fetchone()[0]
    assert summary.files_ingested == 5
    assert attempts == 0
    assert len(rows) == 1
    assert rows[0][0] == "file"
    assert "file is UTF-16, not UTF-8: convert it to UTF-8" in rows[0][1]
    assert rows[0][2] == BROKEN_LOG


SERIES_SOURCES = {
    "sources": [
        {
            "pattern": "series/*.prom",
            "site_id": "SITE106",
            "nf": "amf",
            "instance": "amf-3",
            "format": "prometheus_text",
            "timezone": "UTC",
        },
        {
            "pattern": "fixed/*.prom",
            "site_id": "SITE106",
            "nf": "amf",
            "instance": "amf-4",
            "format": "prometheus_text",
            "timezone": "UTC",
            "scraped_at": "2026-11-02T08:00:00Z",
        },
        {
            "pattern": "logs/*.log",
            "site_id": "SITE106",
            "nf": "amf",
            "instance": "amf-3",
            "format": "open5gs_log",
            "timezone": "UTC",
            "collected_on": "2026-11-02",
        },
    ]
}


def write_scrape(folder: Path, hour: int, requests: int, start_time: int = 1000) -> Path:
    """Write one scrape of amf-3 at ``hour`` with the given counter value."""
    path = folder / "series" / f"amf-3-20261102T{hour:02d}0000Z.prom"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# TYPE fivegs_amffunction_rm_reginitreq counter\n"
        f"fivegs_amffunction_rm_reginitreq {requests}\n"
        f'fivegs_amffunction_rm_reginitreq{{cause="9"}} {requests // 10}\n'
        "# TYPE process_start_time_seconds gauge\n"
        f"process_start_time_seconds {start_time}\n"
    )
    return path


@pytest.fixture
def series_landing(tmp_path) -> Path:
    """A landing folder with one scrape series of amf-3 (hours 1, 3, 5, 7 and 9)."""
    landing = tmp_path / "core5g"
    landing.mkdir()
    (landing / "sources.json").write_text(json.dumps(SERIES_SOURCES))
    for hour, requests in ((1, 10), (3, 25), (5, 40), (7, 5), (9, 30)):
        write_scrape(landing, hour, requests, start_time=1000 if hour < 7 else 2000)
    return landing


def increases_of(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT instance, metric, labels_key, interval_start, interval_end, start_value,"
        " end_value, increase, counter_reset, series_started, event_date"
        " FROM raw.nf_counter_increases ORDER BY 1, 2, 3, 4"
    ).fetchall()


def empty_core5g_tables(conn: psycopg.Connection) -> None:
    for table in (*CORE5G_TABLES, "raw.quarantine", "raw.ingested_files"):
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(table)))


def fresh_increases(conn: psycopg.Connection, landing: Path) -> list[tuple]:
    """Increases of a first ingest of ``landing`` into empty tables, one file per batch."""
    empty_core5g_tables(conn)
    config = load_sources_config(landing / "sources.json")
    pseudonymiser = Pseudonymiser(bytes.fromhex(KEY))
    for path in sorted(landing.rglob("*.prom"), reverse=True):
        name = path.relative_to(landing).as_posix()
        ingest_core5g_file(conn, path, name, config.match(name), pseudonymiser)
    return increases_of(conn)


def test_batch_increases_match_file_by_file(conn, series_landing):
    ingest_core5g_folder(conn, series_landing, KEY)
    batched = increases_of(conn)
    assert len(batched) == 8
    assert fresh_increases(conn, series_landing) == batched


def test_batch_with_changed_and_new_scrapes(conn, series_landing):
    ingest_core5g_folder(conn, series_landing, KEY)
    # One batch contains a corrected scrape, a scrape between two stored ones and one before all.
    write_scrape(series_landing, 3, 28)
    write_scrape(series_landing, 4, 33)
    write_scrape(series_landing, 0, 2)
    summary = ingest_core5g_folder(conn, series_landing, KEY)
    assert summary.files_ingested == 3
    assert summary.files_unchanged == 4
    refreshed = increases_of(conn)
    assert len(refreshed) == 12
    assert fresh_increases(conn, series_landing) == refreshed


def test_batch_removed_scrape_joins_neighbours(conn, series_landing):
    ingest_core5g_folder(conn, series_landing, KEY)
    (series_landing / "series" / "amf-3-20261102T050000Z.prom").write_bytes(
        "fivegs_amffunction_rm_reginitreq 40\n".encode("utf-16")
    )
    ingest_core5g_folder(conn, series_landing, KEY)
    spans = conn.execute(
        "SELECT interval_start, interval_end, increase FROM raw.nf_counter_increases"
        " WHERE labels_key = '' AND interval_end = '2026-11-02T07:00:00Z'"
    ).fetchall()
    assert len(spans) == 1
    assert spans[0][0].hour == 3
    assert spans[0][2] == 5.0


def test_batches_of_two_files_same_rows(conn, series_landing, monkeypatch):
    ingest_core5g_folder(conn, series_landing, KEY)
    one_batch = dump(conn)
    empty_core5g_tables(conn)
    monkeypatch.setattr("deploy_manager.core5g.load.BATCH_FILES", 2)
    ingest_core5g_folder(conn, series_landing, KEY)
    assert dump(conn) == one_batch


def test_bad_files_in_batch_keep_the_others(conn, series_landing):
    write_scrape(series_landing, 2, 12)
    (series_landing / "series" / "amf-3-no-time.prom").write_text("up 1\n")
    (series_landing / "fixed").mkdir()
    (series_landing / "fixed" / "a.prom").write_text("up 1\n")
    (series_landing / "fixed" / "b.prom").write_text("up 0\n")
    (series_landing / "logs").mkdir()
    (series_landing / "logs" / "amf.log").write_bytes(BROKEN_LOG.encode("utf-16"))
    summary = ingest_core5g_folder(conn, series_landing, KEY)
    quarantined = dict(
        conn.execute("SELECT source_path, reason FROM raw.quarantine ORDER BY 1").fetchall()
    )
    scrapes = conn.execute("SELECT source_path FROM raw.nf_scrapes ORDER BY 1").fetchall()
    assert list(summary.failed_files) == ["series/amf-3-no-time.prom"]
    assert summary.files_ingested == 9
    assert sorted(quarantined) == ["fixed/b.prom", "logs/amf.log"]
    assert "is already loaded from fixed/a.prom" in quarantined["fixed/b.prom"]
    assert "file is UTF-16" in quarantined["logs/amf.log"]
    assert len(scrapes) == 7
    assert ("fixed/b.prom",) not in scrapes
    assert len(increases_of(conn)) == 10


def test_parse_workers_same_rows(conn, case_landing, generated, monkeypatch):
    ingest_core5g_folder(conn, case_landing, KEY)
    first = ingest_core5g_folder(conn, generated.folder, KEY)
    in_process = dump(conn)
    empty_core5g_tables(conn)
    monkeypatch.setattr("deploy_manager.core5g.parse.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("deploy_manager.core5g.load.parse_processes", lambda: 2)
    ingest_core5g_folder(conn, case_landing, KEY)
    summary = ingest_core5g_folder(conn, generated.folder, KEY)
    in_workers = dump(conn)
    assert summary.files_ingested == first.files_ingested
    assert summary.rows == first.rows
    for table in CORE5G_TABLES:
        assert in_workers[table] == in_process[table]


def test_encoded_rows_match_psycopg_copy(conn):
    rows = [
        ("tab\tnew\nline\\back\rcr\b\f\v", 7, -0.0, True, datetime(2026, 11, 2, 8, tzinfo=UTC)),
        ("", -(2**62), 1234567.891011, False, datetime(2026, 11, 2, 8, 0, 0, 1)),
        (None, None, None, None, None),
        ('{"cause": "9"}', 0, float("inf"), True, date(2026, 11, 2)),
        ("ünïcode ✓", 1, 0.1 + 0.2, False, datetime(2026, 11, 2, 8, 30, tzinfo=UTC)),
    ]
    columns = ("t", "i", "f", "b", "at")
    conn.execute(
        "CREATE TABLE raw.copy_probe (n serial, t text, i bigint, f float8, b boolean,"
        " at timestamptz)"
    )
    try:
        with conn.cursor().copy("COPY raw.copy_probe (t, i, f, b, at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        written = copy_encoded(conn, "copy_probe", [encode_rows(columns, rows)])
        stored = conn.execute("SELECT t, i, f, b, at FROM raw.copy_probe ORDER BY n").fetchall()
    finally:
        conn.execute("DROP TABLE raw.copy_probe")
    assert written == len(rows)
    assert stored[len(rows) :] == stored[: len(rows)]
    assert stored[0][0] == rows[0][0]


def test_encode_rows_rejects_unknown_type():
    with pytest.raises(TypeError, match="Decimal"):
        encode_rows(("value",), [(Decimal("1.5"),)])
