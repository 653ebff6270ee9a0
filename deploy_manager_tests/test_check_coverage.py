"""The catalog's reconcile, rate and identity checks on the device, drift, 5G core and site
health marts: each fails on a bad partition and passes on a good one. Marts are ORC files
written with pyarrow, and raw rows are inserted in a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import psycopg
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from psycopg import sql

from deploy_manager.checks.catalog import (
    CELL_THROUGHPUT,
    CONFIG_DRIFT,
    DEVICE_HEALTH,
    MART_CHECKS,
    NF_HEALTH,
    NF_HEALTH_RATES,
    SITE_HEALTH,
    SITE_HEALTH_RATES,
)

from .warehouse_helpers import check_definitions, evaluations, run_checks, write_partition

DAY = date(2026, 11, 1)
GOOD, BAD = "S1", "S2"


@pytest.fixture
def instance() -> DagsterInstance:
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", [GOOD, BAD])
        yield instance


def _catalog_check(asset: Sequence[str], name: str):
    key = AssetKey(list(asset))
    for checks in MART_CHECKS:
        for check_key in checks.check_keys:
            if check_key.asset_key == key and check_key.name == name:
                return checks
    raise AssertionError(f"no check {name!r} on {key.to_user_string()} in MART_CHECKS")


def _insert(conn: psycopg.Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = list(rows[0])
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier("raw", table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join([sql.Placeholder()] * len(columns)),
    )
    with conn.cursor() as cursor:
        cursor.executemany(statement, [tuple(row[c] for c in columns) for row in rows])
    conn.commit()


def _outcomes(tmp_path, instance, database_url, asset, name) -> tuple[Any, Any]:
    """Run one catalog check over DAY x (GOOD, BAD) and return its two evaluations."""
    only = [AssetCheckKey(AssetKey(list(asset)), name)]
    defs = check_definitions([_catalog_check(asset, name)], tmp_path, database_url, only)
    found = evaluations(run_checks(defs, instance, DAY, DAY))
    path = "/".join(asset)
    return found[(path, name, f"{DAY}|{GOOD}")], found[(path, name, f"{DAY}|{BAD}")]


def _table(asset: Sequence[str]) -> str:
    return ".".join(asset)


def _drift_row(site: str, device: str, hour: int) -> dict:
    return {
        "device": device,
        "site_id": site,
        "event_date": DAY,
        "backup_time": f"{DAY}T{hour:02d}:00:00Z",
        "normalised_sha256": "0" * 64,
    }


def test_config_drift_backups_reconcile(tmp_path, instance, fresh_database):
    with psycopg.connect(fresh_database) as conn:
        _insert(
            conn,
            "config_drift",
            [_drift_row(GOOD, "sw-1", 3), _drift_row(GOOD, "sw-1", 15), _drift_row(BAD, "sw-2", 3)],
        )
    write_partition(tmp_path, _table(CONFIG_DRIFT), str(DAY), GOOD, {"backups": [2]})
    # Two backups where raw.config_drift has one: the day was counted twice.
    write_partition(tmp_path, _table(CONFIG_DRIFT), str(DAY), BAD, {"backups": [1, 1]})
    good, bad = _outcomes(tmp_path, instance, fresh_database, CONFIG_DRIFT, "reconcile_backups")
    assert good.passed
    assert not bad.passed
    assert bad.metadata["difference"].value == 1


@pytest.mark.parametrize(
    ("asset", "column", "leak", "clean"),
    [
        (
            CONFIG_DRIFT,
            "diff",
            "+ description line of +33612345678\n",
            "+ ip address 10.0.0.1 255.255.255.0\n",
        ),
        (DEVICE_HEALTH, "device", "imsi-001010000000101", "10.20.0.1"),
    ],
)
def test_netops_identity_check(tmp_path, instance, asset, column, leak, clean):
    write_partition(tmp_path, _table(asset), str(DAY), GOOD, {column: [clean]})
    write_partition(tmp_path, _table(asset), str(DAY), BAD, {column: [clean, leak]})
    good, bad = _outcomes(tmp_path, instance, None, asset, "no_identity_in_clear")
    assert good.passed
    assert not bad.passed
    assert sum(bad.metadata["identities_by_column_and_kind"].value.values()) == 1


def _device_sample(site: str, device: str, line: int) -> dict:
    return {
        "device": device,
        "site_id": site,
        "sample_time": f"{DAY}T{line:02d}:00:00Z",
        "event_date": DAY,
        "counter_kind": "cumulative",
        "source_format": "jsonl",
        "source_path": "devices/metrics/test.jsonl",
        "line": line,
    }


def _registration_attempt(site: str, line: int) -> dict:
    return {
        "site_id": site,
        "amf_instance": "amf-1",
        "nf_vendor": "open5gs",
        "attempt_key": f"attempt-{line}",
        "identity_resolved": True,
        "requested_at": f"{DAY}T10:00:{line:02d}Z",
        "requested_at_text": f"11/01 10:00:{line:02d}.000",
        "outcome": "accept",
        "cause_logged": False,
        "event_date": DAY,
        "source_path": "core5g/amf.log",
        "line_number": line,
    }


@pytest.mark.parametrize(
    ("name", "raw_table", "raw_rows", "column", "good", "bad"),
    [
        (
            "reconcile_device_samples",
            "device_metrics",
            [
                _device_sample(GOOD, "sw-1", 1),
                _device_sample(GOOD, "sw-2", 2),
                _device_sample(BAD, "sw-3", 3),
            ],
            "device_samples",
            2,
            0,
        ),
        (
            "reconcile_devices_backed_up",
            "config_drift",
            [
                _drift_row(GOOD, "sw-1", 3),
                _drift_row(GOOD, "sw-1", 15),
                _drift_row(BAD, "sw-2", 3),
                _drift_row(BAD, "sw-3", 3),
            ],
            "devices_backed_up",
            1,
            1,
        ),
        (
            "reconcile_reg_attempts",
            "amf_registration_attempts",
            [_registration_attempt(GOOD, 1), _registration_attempt(BAD, 2)],
            "reg_attempts",
            1,
            2,
        ),
    ],
)
def test_site_health_reconcile(
    tmp_path, instance, fresh_database, name, raw_table, raw_rows, column, good, bad
):
    with psycopg.connect(fresh_database) as conn:
        _insert(conn, raw_table, raw_rows)
    write_partition(tmp_path, _table(SITE_HEALTH), str(DAY), GOOD, {column: [good]})
    write_partition(tmp_path, _table(SITE_HEALTH), str(DAY), BAD, {column: [bad]})
    passed, failed = _outcomes(tmp_path, instance, fresh_database, SITE_HEALTH, name)
    assert passed.passed
    assert not failed.passed
    assert failed.metadata["difference"].value != 0


@pytest.mark.parametrize(
    ("asset", "columns", "column"),
    [
        (SITE_HEALTH, SITE_HEALTH_RATES, "health_score"),
        (SITE_HEALTH, SITE_HEALTH_RATES, "drift_score"),
        (SITE_HEALTH, SITE_HEALTH_RATES, "session_setup_success_rate"),
        (NF_HEALTH, NF_HEALTH_RATES, "counter_reg_success_rate"),
        (NF_HEALTH, NF_HEALTH_RATES, "log_reg_success_rate"),
    ],
)
def test_rate_column_is_checked(tmp_path, instance, asset, columns, column):
    others = {c: [50.0] for c in columns if c != column}
    write_partition(tmp_path, _table(asset), str(DAY), GOOD, {**others, column: [100.0]})
    write_partition(tmp_path, _table(asset), str(DAY), BAD, {**others, column: [100.01]})
    good, bad = _outcomes(tmp_path, instance, None, asset, "rates_in_range")
    assert good.passed
    assert not bad.passed
    assert bad.metadata["out_of_range_by_column"].value[column] == 1


def _cdr_container(site: str, charging_id: int, container: int, location: str) -> dict:
    return {
        "site_id": site,
        "chf_instance": "chf-1",
        "charging_id": charging_id,
        "record_sequence_number": 1,
        "partial_record": False,
        "record_opening_time": f"{DAY}T10:00:00Z",
        "record_opening_time_text": "2026-11-01T10:00:00Z",
        "rating_group": 10,
        "container_number": container,
        "local_sequence_number": container,
        "event_date": DAY,
        "source_path": f"core5g/{site}-cdr-{location}.json",
        "record_location": "0",
    }


def test_cell_throughput_containers_reconcile(tmp_path, instance, fresh_database):
    rows = [
        _cdr_container(GOOD, 7, 1, "a"),
        _cdr_container(GOOD, 7, 2, "a"),
        # The same container exported again: counted once.
        _cdr_container(GOOD, 7, 2, "b"),
        _cdr_container(BAD, 8, 1, "a"),
        _cdr_container(BAD, 8, 1, "b"),
    ]
    with psycopg.connect(fresh_database) as conn:
        _insert(conn, "chf_cdrs", rows)
    table = _table(CELL_THROUGHPUT)
    write_partition(tmp_path, table, str(DAY), GOOD, {"containers": [2]})
    write_partition(tmp_path, table, str(DAY), BAD, {"containers": [2]})
    good, bad = _outcomes(
        tmp_path, instance, fresh_database, CELL_THROUGHPUT, "reconcile_containers"
    )
    assert good.passed
    assert not bad.passed
    assert bad.metadata["raw_total"].value == 1


def _scrape(site: str, hour: int) -> dict:
    return {
        "site_id": site,
        "nf": "amf",
        "instance": "amf-1",
        "nf_vendor": "open5gs",
        "scraped_at": f"{DAY}T{hour:02d}:00:00Z",
        "sample_count": 10,
        "event_date": DAY,
        "source_path": f"core5g/{site}-{hour}.prom",
    }


def test_nf_health_scrapes_reconcile(tmp_path, instance, fresh_database):
    with psycopg.connect(fresh_database) as conn:
        _insert(conn, "nf_scrapes", [_scrape(GOOD, 8), _scrape(GOOD, 9), _scrape(BAD, 8)])
    write_partition(tmp_path, _table(NF_HEALTH), str(DAY), GOOD, {"scrapes": [2]})
    write_partition(tmp_path, _table(NF_HEALTH), str(DAY), BAD, {"scrapes": [0]})
    good, bad = _outcomes(tmp_path, instance, fresh_database, NF_HEALTH, "reconcile_scrapes")
    assert good.passed
    assert not bad.passed
    assert bad.metadata["difference"].value == -1
