"""The 5G core marts built by the real pipeline. The input cases are checked through the
marts, and generated data against the generator's counts and exact computations over the
raw rows. Ingest is idempotent, and no raw table or mart contains an identity in clear."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import date, datetime

import psycopg
import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from deploy_manager.checks.identity import ALL_KINDS, find_identities
from deploy_manager.core5g import marts
from deploy_manager.core5g.landing import CORE5G_LANDING
from deploy_manager.core5g.load import ingest_core5g_folder
from deploy_manager.pipeline import ingest

from .conftest import (
    CASE_SITE,
    WORLD_DATES,
    WORLD_GENERATED_SITES,
    WORLD_PSEUDONYM_KEY,
    dump_tables,
)
from .test_core5g_load import CORE5G_TABLES, clear_identity_rows

CASE_DAY = date(2026, 11, 2)
SECONDS_PER_DAY = 86_400

pytestmark = pytest.mark.spark


def exact_percentile(values: list[float], q: float) -> float:
    """Percentile with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def mart_row(world, table: str, **keys) -> dict:
    frame = world.spark.table(table)
    for name, value in keys.items():
        frame = frame.where(F.col(name) == value)
    rows = frame.collect()
    assert len(rows) == 1, (table, keys, rows)
    return rows[0].asDict()


def case_row(world, table: str, **keys) -> dict:
    return mart_row(world, table, date=CASE_DAY, site_id=CASE_SITE, **keys)


# The input cases, through the marts.


def test_open5gs_case_registration_kpis(platform_world):
    row = case_row(platform_world, marts.REGISTRATION_KPIS_TABLE, amf_instance="amf-1")
    assert row["nf_vendor"] == "open5gs"
    assert row["total_attempts"] == 5
    assert row["successful"] == 1
    assert row["failed"] == 3
    assert row["no_response"] == 1
    assert row["success_rate"] == 20.0
    assert row["latency_samples"] == 1
    assert row["avg_latency"] == 68.0
    assert row["p95_latency"] == 68.0
    assert row["p99_latency"] == 68.0
    assert row["deployment_status"] == "critical"


def test_free5gc_case_registration_kpis(platform_world):
    row = case_row(platform_world, marts.REGISTRATION_KPIS_TABLE, amf_instance="amf-2")
    assert row["nf_vendor"] == "free5gc"
    assert row["total_attempts"] == 2
    assert row["successful"] == 1
    assert row["failed"] == 1
    assert row["no_response"] == 0
    assert row["success_rate"] == 50.0
    assert round(row["avg_latency"], 1) == 82.5
    assert round(row["p95_latency"], 1) == 82.5


def test_open5gs_case_failures_by_cause(platform_world):
    table = marts.REGISTRATION_FAILURES_TABLE
    identity = case_row(platform_world, table, amf_instance="amf-1", cause_code=9)
    assert identity["outcome"] == "reject"
    assert identity["cause_name"] == "UE identity cannot be derived by the network"
    assert identity["attempts"] == 2
    assert identity["distinct_ues"] == 1
    assert identity["first_seen"] < identity["last_seen"]
    null_identity = case_row(platform_world, table, amf_instance="amf-1", cause_code=97)
    assert null_identity["cause_name"] == "Message type non-existent or not implemented"
    assert null_identity["attempts"] == 1
    assert null_identity["distinct_ues"] == 0
    unanswered = case_row(platform_world, table, amf_instance="amf-1", outcome="no_response")
    assert unanswered["cause_code"] is None
    assert unanswered["cause_name"] == "no response"
    assert unanswered["attempts"] == 1


def test_free5gc_case_cause_not_logged(platform_world):
    row = case_row(platform_world, marts.REGISTRATION_FAILURES_TABLE, amf_instance="amf-2")
    assert row["outcome"] == "reject"
    assert row["cause_code"] is None
    assert row["cause_name"] == "not logged"
    assert row["attempts"] == 1


def test_scrape_case_counters_across_restart(platform_world):
    row = case_row(platform_world, marts.NF_HEALTH_TABLE, instance="amf-1")
    assert row["nf"] == "amf"
    assert row["counter_reg_requests"] == 90
    assert row["counter_reg_successes"] == 88
    assert row["counter_reg_failures"] == 2
    assert json.loads(row["counter_reg_failure_causes"]) == {"9": 2}
    assert round(row["counter_reg_success_rate"], 1) == 97.8
    assert row["log_reg_attempts"] == 5
    assert row["log_reg_successes"] == 1
    assert row["log_reg_success_rate"] == 20.0


def test_scrape_case_restart_and_negative_gauge(platform_world):
    row = case_row(platform_world, marts.NF_HEALTH_TABLE, instance="amf-1")
    assert row["scrapes"] == 2
    assert row["restarts"] == 1
    assert row["counter_resets"] == 3
    assert row["last_ran_ue"] is None
    assert row["max_ran_ue"] == 310
    assert row["negative_gauges"] == 1
    assert row["quality_flags"] == "ran_ue=negative_gauge"
    # Two of the 24 hourly scrapes of the day.
    assert row["availability_pct"] == round(100.0 * 2 / 24, 2)


def test_case_site_health_5g_columns(platform_world):
    row = case_row(platform_world, "kpi.site_health_daily")
    assert row["reg_attempts"] == 7
    assert row["reg_success_rate"] == round(100.0 * 2 / 7, 2)
    assert row["registration_score"] == row["reg_success_rate"]
    assert round(row["reg_p95_latency"], 1) == 82.5
    assert row["session_setup_success_rate"] is None


# Generated data against exact computations over the raw rows in PostgreSQL.


def raw_rows(world, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(world.database_url) as conn:
        return conn.execute(query, params).fetchall()


def test_registration_percentiles_equal_exact_ones(platform_world):
    latencies: dict[tuple, list[float]] = defaultdict(list)
    for day, site, amf, latency in raw_rows(
        platform_world,
        "SELECT event_date, site_id, amf_instance, latency_ms"
        " FROM raw.amf_registration_attempts"
        " WHERE outcome IN ('accept', 'complete') AND event_date = ANY(%s)",
        (WORLD_DATES,),
    ):
        latencies[(day, site, amf)].append(latency)
    rows = platform_world.spark.table(marts.REGISTRATION_KPIS_TABLE).collect()
    assert {(r["date"], r["site_id"], r["amf_instance"]) for r in rows} == set(latencies)
    assert max(len(values) for values in latencies.values()) > 300
    for row in rows:
        values = latencies[(row["date"], row["site_id"], row["amf_instance"])]
        assert row["latency_samples"] == len(values)
        assert row["p95_latency"] == pytest.approx(exact_percentile(values, 0.95), abs=1e-9)
        assert row["p99_latency"] == pytest.approx(exact_percentile(values, 0.99), abs=1e-9)
        assert row["avg_latency"] == pytest.approx(sum(values) / len(values), abs=1e-6)


def test_registration_counts_equal_raw_counts(platform_world):
    expected = {
        (day, site, amf): (total, ok, rejected, silent)
        for day, site, amf, total, ok, rejected, silent in raw_rows(
            platform_world,
            "SELECT event_date, site_id, amf_instance, count(*),"
            " count(*) FILTER (WHERE outcome IN ('accept', 'complete')),"
            " count(*) FILTER (WHERE outcome = 'reject'),"
            " count(*) FILTER (WHERE outcome = 'no_response')"
            " FROM raw.amf_registration_attempts WHERE event_date = ANY(%s) GROUP BY 1, 2, 3",
            (WORLD_DATES,),
        )
    }
    rows = platform_world.spark.table(marts.REGISTRATION_KPIS_TABLE).collect()
    actual = {
        (r["date"], r["site_id"], r["amf_instance"]): (
            r["total_attempts"],
            r["successful"],
            r["failed"],
            r["no_response"],
        )
        for r in rows
    }
    assert actual == expected


def test_registration_failures_equal_generator_causes(platform_world):
    rows = (
        platform_world.spark.table(marts.REGISTRATION_FAILURES_TABLE)
        .where(F.col("site_id").isin(WORLD_GENERATED_SITES) & (F.col("outcome") == "reject"))
        .collect()
    )
    for site in platform_world.core5g.sites:
        actual = Counter(
            {
                (r["date"], r["cause_code"]): r["attempts"]
                for r in rows
                if r["site_id"] == site.site_id
            }
        )
        expected = Counter(
            {key: count for key, count in site.reject_causes.items() if key[0] in WORLD_DATES}
        )
        assert actual == expected, site.site_id


def test_session_kpis_equal_generator_counts(platform_world):
    rows = (
        platform_world.spark.table(marts.SESSION_KPIS_TABLE)
        .where(F.col("site_id").isin(WORLD_GENERATED_SITES))
        .collect()
    )
    for site in platform_world.core5g.sites:
        for day in WORLD_DATES:
            (row,) = [r for r in rows if r["site_id"] == site.site_id and r["date"] == day]
            accepted = site.pdu_sessions[(day, "accept")]
            attempts = sum(n for (d, _), n in site.pdu_sessions.items() if d == day)
            assert row["smf_instance"] == "smf-1"
            assert row["attempts"] == attempts
            assert row["successes"] == accepted
            assert row["failures"] == site.pdu_sessions[(day, "reject")]
            assert row["setup_success_rate"] == round(100.0 * accepted / attempts, 2)


def test_session_counter_view_counts_each_request_once(platform_world):
    """The SMF's request counter is exposed unlabelled and per slice: only one is summed."""
    rows = (
        platform_world.spark.table(marts.SESSION_KPIS_TABLE)
        .where(F.col("site_id").isin(WORLD_GENERATED_SITES))
        .collect()
    )
    for site in platform_world.core5g.sites:
        truth = site.counter_increases
        requests = truth[("smf-1", marts.PDU_REQUEST_METRIC, "")]
        successes = sum(
            n
            for (inst, metric, _), n in truth.items()
            if inst == "smf-1" and metric == marts.PDU_SUCCESS_METRIC
        )
        site_rows = [r for r in rows if r["site_id"] == site.site_id]
        assert requests > 0
        assert sum(r["counter_requests"] for r in site_rows) == requests
        assert sum(r["counter_successes"] for r in site_rows) == successes


def test_session_percentiles_equal_exact_ones(platform_world):
    latencies: dict[tuple, list[float]] = defaultdict(list)
    for day, site, smf, latency in raw_rows(
        platform_world,
        "SELECT event_date, site_id, smf_instance, latency_ms FROM raw.pdu_session_attempts"
        " WHERE outcome = 'accept' AND event_date = ANY(%s)",
        (WORLD_DATES,),
    ):
        latencies[(day, site, smf)].append(latency)
    rows = platform_world.spark.table(marts.SESSION_KPIS_TABLE).collect()
    checked = 0
    for row in rows:
        values = latencies.get((row["date"], row["site_id"], row["smf_instance"]))
        if not values:
            assert row["p95_latency"] is None
            continue
        assert row["p95_latency"] == pytest.approx(exact_percentile(values, 0.95), abs=1e-9)
        checked += 1
    assert checked == len(WORLD_DATES) * len(WORLD_GENERATED_SITES)


def test_nf_health_equals_generator_counts(platform_world):
    rows = (
        platform_world.spark.table(marts.NF_HEALTH_TABLE)
        .where(F.col("site_id").isin(WORLD_GENERATED_SITES))
        .collect()
    )
    for site in platform_world.core5g.sites:
        site_rows = [r for r in rows if r["site_id"] == site.site_id]
        assert {r["instance"] for r in site_rows} == {"amf-1", "smf-1", "upf-1"}
        for instance in ("amf-1", "smf-1", "upf-1"):
            restarts = sum(r["restarts"] for r in site_rows if r["instance"] == instance)
            assert restarts == site.restarts[instance], (site.site_id, instance)
        assert sum(r["negative_gauges"] for r in site_rows) == site.negative_gauges
        for row in site_rows:
            assert row["scrapes"] == 24
            assert row["availability_pct"] == 100.0
        truth = site.counter_increases
        requests = sum(
            n
            for (inst, metric, _), n in truth.items()
            if inst == "amf-1" and metric in marts.REG_REQUEST_METRICS
        )
        amf_rows = [r for r in site_rows if r["instance"] == "amf-1"]
        assert sum(r["counter_reg_requests"] for r in amf_rows) == requests


def test_cell_throughput_equals_generated_octets(platform_world):
    rows = (
        platform_world.spark.table(marts.CELL_THROUGHPUT_TABLE)
        .where(F.col("site_id").isin(WORLD_GENERATED_SITES))
        .collect()
    )
    for site in platform_world.core5g.sites:
        for day in WORLD_DATES:
            day_rows = [r for r in rows if r["site_id"] == site.site_id and r["date"] == day]
            uplink = sum(r["uplink_octets"] for r in day_rows)
            downlink = sum(r["downlink_octets"] for r in day_rows)
            assert uplink == site.cdr_octets[(day, "uplink")], (site.site_id, day)
            assert downlink == site.cdr_octets[(day, "downlink")], (site.site_id, day)
            assert sum(r["containers"] for r in day_rows) == site.cdr_containers[day]
    for row in rows:
        bits = (row["uplink_octets"] + row["downlink_octets"]) * 8
        assert row["throughput_bps"] == round(bits / SECONDS_PER_DAY, 3)
        assert row["duplicate_containers"] == 0


def test_cell_sessions_count_charging_ids(platform_world):
    expected = {
        (day, site, cell): sessions
        for day, site, cell, sessions in raw_rows(
            platform_world,
            "SELECT event_date, site_id, container_nr_cell_id, count(DISTINCT charging_id)"
            " FROM raw.chf_cdrs WHERE event_date = ANY(%s) GROUP BY 1, 2, 3",
            (WORLD_DATES,),
        )
    }
    rows = platform_world.spark.table(marts.CELL_THROUGHPUT_TABLE).collect()
    actual = {(r["date"], r["site_id"], r["nr_cell_id"]): r["sessions"] for r in rows}
    assert actual == expected


def test_cell_throughput_drops_duplicate_containers(platform_world):
    """An exported container seen twice counts once; partial records of one session count
    as one session."""
    columns = (
        "site_id string, charging_id long, record_sequence_number int, rating_group int,"
        " local_sequence_number int, container_number int, tac int, container_nr_cell_id long,"
        " first_usage_at timestamp, last_usage_at timestamp, uplink_octets long,"
        " downlink_octets long, event_date date, source_path string, record_location string"
    )

    def at(hour: int) -> datetime:
        return datetime(2026, 11, 2, hour)

    day = CASE_DAY
    cdrs = platform_world.spark.createDataFrame(
        [
            ("S", 7, 1, 10, 1, 1, 7, 16, at(8), at(9), 100, 1000, day, "a.jsonl", "line 1"),
            ("S", 7, 1, 10, 1, 1, 7, 16, at(8), at(9), 100, 1000, day, "b.jsonl", "line 1"),
            ("S", 7, 2, 10, 1, 1, 7, 16, at(9), at(10), 50, 500, day, "a.jsonl", "line 2"),
            ("S", 8, None, 10, 1, 1, 7, 16, at(9), at(11), 10, 20, day, "a.jsonl", "line 3"),
        ],
        columns,
    )
    (row,) = marts.cell_throughput(cdrs).collect()
    assert row["uplink_octets"] == 160
    assert row["downlink_octets"] == 1520
    assert row["sessions"] == 2
    assert row["containers"] == 3
    assert row["duplicate_containers"] == 1
    assert row["active_seconds"] == 3 * 3600
    assert row["throughput_bps"] == round(1680 * 8 / SECONDS_PER_DAY, 3)


def test_generated_site_health_5g_columns(platform_world):
    rows = (
        platform_world.spark.table("kpi.site_health_daily")
        .where(F.col("site_id").isin(WORLD_GENERATED_SITES))
        .collect()
    )
    registrations = platform_world.spark.table(marts.REGISTRATION_KPIS_TABLE).collect()
    assert len(rows) == len(WORLD_DATES) * len(WORLD_GENERATED_SITES)
    for row in rows:
        (amf,) = [
            r for r in registrations if (r["date"], r["site_id"]) == (row["date"], row["site_id"])
        ]
        assert row["reg_attempts"] == amf["total_attempts"]
        assert row["reg_success_rate"] == amf["success_rate"]
        assert row["reg_p95_latency"] == amf["p95_latency"]
        assert 0.0 < row["session_setup_success_rate"] <= 100.0


# Idempotency and personal data.


def test_ingest_twice_changes_nothing(platform_world):
    with psycopg.connect(platform_world.database_url) as conn:
        before = dump_tables(conn, [*CORE5G_TABLES, "raw.quarantine"])
    assert ingest(platform_world.defs, platform_world.instance).success
    folder = platform_world.settings.landing_dir / CORE5G_LANDING
    with psycopg.connect(platform_world.database_url) as conn:
        assert dump_tables(conn, [*CORE5G_TABLES, "raw.quarantine"]) == before
        forced = ingest_core5g_folder(conn, folder, WORLD_PSEUDONYM_KEY, force=True)
        conn.commit()
        assert forced.failed_files == {}
        assert forced.files_ingested > 0
        assert dump_tables(conn, [*CORE5G_TABLES, "raw.quarantine"]) == before


def test_raw_tables_hold_no_clear_identity(platform_world):
    with psycopg.connect(platform_world.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM raw.chf_cdrs").fetchone()[0] > 0
        assert clear_identity_rows(conn) == {}


def test_marts_hold_no_clear_identity(platform_world):
    spark = platform_world.spark
    assert find_identities(["ue imsi-001010000000101 rejected"], ALL_KINDS) == {"supi": 1}
    scanned = 0
    for database in ("core5g", "kpi"):
        for table in spark.catalog.listTables(database):
            frame = spark.table(f"{database}.{table.name}")
            texts = [f.name for f in frame.schema.fields if isinstance(f.dataType, StringType)]
            values = [row[name] for row in frame.select(*texts).collect() for name in texts]
            assert find_identities(values, ALL_KINDS) == {}, f"{database}.{table.name}"
            scanned += 1
    assert scanned >= 6
