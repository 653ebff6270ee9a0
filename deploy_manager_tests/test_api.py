"""The REST API over the ORC files of the marts that the pipeline materialized.

Values are checked against the same marts read back through Spark. Tests that change files
work on a copy of the world's warehouse, so the marts stay as the pipeline wrote them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
import pytest
from litestar.testing import TestClient

from api_service.app import create_app
from api_service.settings import ApiSettings

DEPLOYMENTS = "netops.ansible_deployment_metrics"
FAILURES = "netops.deployment_failure_analysis"
SITE_HEALTH = "kpi.site_health_daily"
REGISTRATIONS = "core5g.registration_kpis"
REGISTRATION_FAILURES = "core5g.registration_failures"
API_KEY = "k-7f3a9c1e5b2d4f60"
OTHER_KEY = "k-0b1c2d3e4f5a6b7c"


def api_settings(warehouse: str | Path, **overrides) -> ApiSettings:
    """Settings for a test app: every check looks at the disk, no rate limit, no keys."""
    values = {"warehouse_dir": Path(warehouse), "rate_limit": 0.0, "check_seconds": 0.0}
    values.update(overrides)
    return ApiSettings(**values)


def table_dir(warehouse: str | Path, table: str) -> Path:
    database, name = table.split(".")
    return Path(warehouse) / f"{database}.db" / name


def write_partition(
    warehouse: Path, table: str, day: date, site: str, rows: pa.Table, name: str = "part-0.orc"
) -> Path:
    """Write ``rows`` as the only file of one (date, site) partition, as Spark lays it out."""
    folder = table_dir(warehouse, table) / f"date={day.isoformat()}" / f"site_id={site}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / name
    orc.write_table(rows, path)
    return path


def mart_rows(world, table: str) -> list[dict]:
    return [row.asDict() for row in world.spark.table(table).collect()]


def window_dates(rows: list[dict], days: int) -> tuple[date, date]:
    last = max(row["date"] for row in rows)
    return last - timedelta(days=days - 1), last


def pct(numerator: float, denominator: float) -> float | None:
    return round(numerator * 100.0 / denominator, 2) if denominator else None


@pytest.fixture(scope="module")
def world_client(platform_world):
    """A client of the API over the world's warehouse, as the pipeline left it."""
    app = create_app(api_settings(platform_world.settings.warehouse_dir))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def warehouse_copy(platform_world, tmp_path) -> Path:
    """A copy of the world's warehouse that a test may change."""
    copy = tmp_path / "warehouse"
    shutil.copytree(platform_world.settings.warehouse_dir, copy)
    return copy


def test_site_id_pattern_matches_partitions():
    from api_service.params import SITE_ID_PATTERN
    from deploy_manager.partitions import SITE_ID_PATTERN as PARTITIONS_PATTERN

    assert SITE_ID_PATTERN.pattern == PARTITIONS_PATTERN.pattern


def test_table_names_match_marts():
    from api_service.queries import common
    from deploy_manager.kpi.marts import SITE_HEALTH_TABLE
    from deploy_manager.netops.devices.marts import CONFIG_DRIFT_TABLE, DEVICE_HEALTH_TABLE
    from deploy_manager.netops.marts import DEPLOYMENT_METRICS_TABLE, FAILURE_ANALYSIS_TABLE

    assert common.DEPLOYMENT_METRICS == DEPLOYMENT_METRICS_TABLE
    assert common.FAILURE_ANALYSIS == FAILURE_ANALYSIS_TABLE
    assert common.SITE_HEALTH == SITE_HEALTH_TABLE
    assert common.CONFIG_DRIFT == CONFIG_DRIFT_TABLE
    assert common.DEVICE_HEALTH == DEVICE_HEALTH_TABLE


@pytest.mark.spark
def test_health_lists_latest_dates(platform_world, world_client):
    response = world_client.get("/api/health")
    assert response.status_code == 200
    tables = {t["table"]: t for t in response.json()["tables"]}
    for name in (DEPLOYMENTS, FAILURES, SITE_HEALTH):
        rows = mart_rows(platform_world, name)
        assert tables[name]["materialized"] is True
        assert tables[name]["latest_date"] == max(r["date"] for r in rows).isoformat()
        assert tables[name]["first_date"] == min(r["date"] for r in rows).isoformat()
        assert tables[name]["sites"] == len({r["site_id"] for r in rows})
        assert tables[name]["rows_held"] == len(rows)


@pytest.mark.spark
def test_deployments_match_mart(platform_world, world_client):
    rows = mart_rows(platform_world, DEPLOYMENTS)
    first, last = window_dates(rows, 2)
    response = world_client.get("/api/netops/deployments", params={"days": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["source"]["window"] == {
        "first_date": first.isoformat(),
        "last_date": last.isoformat(),
        "days": 2,
    }

    expected = defaultdict(lambda: defaultdict(float))
    for row in rows:
        if first <= row["date"] <= last:
            group = expected[(row["site_id"], row["playbook"])]
            for name in ("total_executions", "successful", "failed", "incomplete"):
                group[name] += row[name]
            group["host_executions"] += row["host_executions"]
            group["host_successes"] += row["host_successes"]
    served = {(g["site_id"], g["playbook"]): g["totals"] for g in body["rows"]}
    assert set(served) == set(expected)
    for key, sums in expected.items():
        totals = served[key]
        assert totals["total_executions"] == sums["total_executions"], key
        assert totals["successful"] == sums["successful"], key
        assert totals["failed"] == sums["failed"], key
        assert totals["incomplete"] == sums["incomplete"], key
        finished = sums["successful"] + sums["failed"]
        assert totals["success_rate"] == pct(sums["successful"], finished), key
        assert totals["host_success_rate"] == pct(
            sums["host_successes"], sums["host_executions"]
        ), key
    assert body["totals"]["total_executions"] == sum(
        s["total_executions"] for s in expected.values()
    )


@pytest.mark.spark
def test_deployments_filter_by_site_and_playbook(platform_world, world_client):
    rows = mart_rows(platform_world, DEPLOYMENTS)
    first, last = window_dates(rows, 3)
    site, playbook = sorted((r["site_id"], r["playbook"]) for r in rows)[0]
    response = world_client.get(
        "/api/netops/deployments", params={"days": 3, "site_id": site, "playbook": playbook}
    )
    assert response.status_code == 200
    body = response.json()
    assert [(g["site_id"], g["playbook"]) for g in body["rows"]] == [(site, playbook)]
    chosen = [
        r
        for r in rows
        if r["site_id"] == site and r["playbook"] == playbook and first <= r["date"] <= last
    ]
    assert body["totals"]["total_executions"] == sum(r["total_executions"] for r in chosen)
    runs = sum((r["successful"] + r["failed"]) for r in chosen if r["avg_duration"] is not None)
    weighted = sum(
        r["avg_duration"] * (r["successful"] + r["failed"])
        for r in chosen
        if r["avg_duration"] is not None
    )
    expected_duration = round(weighted / runs, 3) if runs else None
    assert body["totals"]["avg_duration"] == pytest.approx(expected_duration)


@pytest.mark.spark
def test_trends_have_one_point_per_date(platform_world, world_client):
    rows = mart_rows(platform_world, DEPLOYMENTS)
    failures = mart_rows(platform_world, FAILURES)
    first, _ = window_dates(rows, 5)
    response = world_client.get("/api/netops/deployment-trends", params={"days": 5})
    assert response.status_code == 200
    points = response.json()["points"]
    assert [p["date"] for p in points] == [
        (first + timedelta(days=i)).isoformat() for i in range(5)
    ]
    for point in points:
        day = date.fromisoformat(point["date"])
        day_rows = [r for r in rows if r["date"] == day]
        assert point["totals"]["total_executions"] == sum(r["total_executions"] for r in day_rows)
        assert point["sites"] == len({r["site_id"] for r in day_rows})
        assert point["failure_count"] == sum(
            f["failure_count"] for f in failures if f["date"] == day
        )


@pytest.mark.spark
def test_failures_are_ranked_by_count(platform_world, world_client):
    rows = mart_rows(platform_world, FAILURES)
    first, last = window_dates(rows, 3)
    counts = defaultdict(int)
    for row in rows:
        if first <= row["date"] <= last:
            counts[row["error_message"]] += row["failure_count"]
    response = world_client.get("/api/netops/failures", params={"days": 3, "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["total_failures"] == sum(counts.values())
    assert body["error_groups"] == len(counts)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:2]
    assert [(g["error_message"], g["failure_count"]) for g in body["rows"]] == ranked


@pytest.mark.spark
def test_overview_totals_and_statuses(platform_world, world_client):
    rows = mart_rows(platform_world, DEPLOYMENTS)
    first, last = window_dates(rows, 3)
    in_window = [r for r in rows if first <= r["date"] <= last]
    response = world_client.get("/api/deployment-manager/overview", params={"days": 3})
    assert response.status_code == 200
    netops = response.json()["netops"]
    assert netops["totals"]["total_executions"] == sum(r["total_executions"] for r in in_window)
    successful = sum(r["successful"] for r in in_window)
    finished = successful + sum(r["failed"] for r in in_window)
    assert netops["totals"]["success_rate"] == pct(successful, finished)
    assert netops["sites"] == len({r["site_id"] for r in in_window})
    assert sum(netops["sites_by_status"].values()) == netops["sites"]
    registrations = mart_rows(platform_world, REGISTRATIONS)
    reg_first, reg_last = window_dates(registrations, 3)
    instances = {
        (r["site_id"], r["amf_instance"])
        for r in registrations
        if reg_first <= r["date"] <= reg_last and r["amf_instance"] is not None
    }
    assert len(instances) > len({amf for _, amf in instances})
    # Sites reuse AMF names, so an instance is a (site, AMF) pair.
    assert response.json()["5g"]["amf_instances"] == len(instances)

    health = response.json()["site_health"]
    scores = [
        r.get("health_score")
        for r in mart_rows(platform_world, SITE_HEALTH)
        if first <= r["date"] <= last and r.get("health_score") is not None
    ]
    if scores:
        assert health["avg_health_score"] == pytest.approx(sum(scores) / len(scores), abs=0.01)
    else:
        assert health["avg_health_score"] is None


@pytest.mark.spark
def test_site_daily_rows_have_every_column(platform_world, world_client):
    rows = [r for r in mart_rows(platform_world, SITE_HEALTH) if r["site_id"] == "SITE002"]
    response = world_client.get("/api/deployment-manager/sites/SITE002", params={"days": 366})
    assert response.status_code == 200
    body = response.json()
    assert body["site_id"] == "SITE002"
    daily = body["daily"]["rows"]
    assert [d["date"] for d in daily] == sorted((r["date"].isoformat() for r in rows), reverse=True)
    spark_columns = set(platform_world.spark.table(SITE_HEALTH).columns)
    assert set(daily[0]) == spark_columns
    by_date = {r["date"].isoformat(): r for r in rows}
    for served in daily:
        expected = by_date[served["date"]]
        assert served["total_executions"] == expected["total_executions"]
        assert served["success_rate"] == expected["success_rate"]
        assert served["top_error"] == expected["top_error"]
    assert body["netops"]["totals"]["total_executions"] == sum(r["total_executions"] for r in rows)


@pytest.mark.spark
def test_registration_kpis_match_world(platform_world, world_client):
    body = world_client.get("/api/5g/registration-kpis", params={"days": 366}).json()
    if not platform_world.spark.catalog.tableExists(REGISTRATIONS):
        assert body["source"]["materialized"] is False
        assert body["rows"] == []
        return
    rows = mart_rows(platform_world, REGISTRATIONS)
    assert body["totals"]["total_attempts"] == sum(r["total_attempts"] for r in rows)
    assert body["totals"]["successful"] == sum(r["successful"] for r in rows)
    assert body["totals"]["no_response"] == sum(r["no_response"] for r in rows)
    served = {(g["site_id"], g["amf_instance"]) for g in body["rows"]}
    assert served == {(r["site_id"], r["amf_instance"]) for r in rows}


def as_served(value):
    """Return a value read through Spark as the API's JSON carries it: dates in ISO form,
    timestamps as UTC datetimes (Spark's session and this process both use UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return value.isoformat()
    return value


def parse_served(row: dict, timestamp_columns: set[str]) -> dict:
    return {
        name: datetime.fromisoformat(value)
        if name in timestamp_columns and value is not None
        else value
        for name, value in row.items()
    }


def rows_in_window(rows: list[dict], days: int, site_id: str | None = None) -> list[dict]:
    first, last = window_dates(rows, days)
    return [
        r
        for r in rows
        if first <= r["date"] <= last and (site_id is None or r["site_id"] == site_id)
    ]


def busiest_site(rows: list[dict]) -> str:
    """The site with the most rows on the latest date, so a filter on it selects rows."""
    latest = max(r["date"] for r in rows)
    counts = defaultdict(int)
    for row in rows:
        if row["date"] == latest:
            counts[row["site_id"]] += 1
    return max(sorted(counts), key=lambda site: counts[site])


def total(rows: list[dict], name: str) -> int:
    return sum(r[name] or 0 for r in rows)


def extreme(function, rows: list[dict], name: str) -> float | None:
    """``function`` (min or max) of a column over its non-NULL values, rounded to 3 decimals."""
    values = [r[name] for r in rows if r[name] is not None]
    return round(function(values), 3) if values else None


def expected_session_summary(rows: list[dict]) -> dict:
    return {
        "attempts": total(rows, "attempts"),
        "successes": total(rows, "successes"),
        "failures": total(rows, "failures"),
        "no_response": total(rows, "no_response"),
        "setup_success_rate": pct(total(rows, "successes"), total(rows, "attempts")),
        "distinct_smf_instance": len({r["smf_instance"] for r in rows}),
    }


def expected_cell_summary(rows: list[dict]) -> dict:
    return {
        "uplink_octets": total(rows, "uplink_octets"),
        "downlink_octets": total(rows, "downlink_octets"),
        "sessions": total(rows, "sessions"),
        "distinct_nr_cell_id": len({r["nr_cell_id"] for r in rows}),
    }


def expected_nf_summary(rows: list[dict]) -> dict:
    return {
        "scrapes": total(rows, "scrapes"),
        "restarts": total(rows, "restarts"),
        "availability_pct": pct(total(rows, "scrapes"), total(rows, "expected_scrapes")),
        "min_availability_pct": extreme(min, rows, "availability_pct"),
        "distinct_instance": len({r["instance"] for r in rows}),
    }


def expected_device_summary(rows: list[dict]) -> dict:
    reachable = total(rows, "reachable_samples")
    return {
        "samples": total(rows, "samples"),
        "reachable_samples": reachable,
        "availability_pct": pct(reachable, reachable + total(rows, "unreachable_samples")),
        "max_cpu_p95": extreme(max, rows, "cpu_p95"),
        "counter_resets": total(rows, "counter_resets"),
        "distinct_device": len({r["device"] for r in rows}),
    }


def expected_drift_summary(rows: list[dict]) -> dict:
    return {
        "backups": total(rows, "backups"),
        "changes": total(rows, "changes"),
        "unexpected_changes": total(rows, "unexpected_changes"),
        "lines_added": total(rows, "lines_added"),
        "distinct_device": len({r["device"] for r in rows}),
    }


# path, mart, the columns that order the rows of one (date, site), the expected summary.
ROW_VIEWS = [
    ("/api/5g/session-kpis", "core5g.session_kpis", ("smf_instance",), expected_session_summary),
    (
        "/api/5g/cell-throughput",
        "core5g.cell_throughput",
        ("nr_cell_id", "tac"),
        expected_cell_summary,
    ),
    ("/api/5g/nf-health", "core5g.nf_health", ("nf", "instance"), expected_nf_summary),
    ("/api/netops/device-health", "netops.device_health", ("device",), expected_device_summary),
    ("/api/netops/config-drift", "netops.config_drift", ("device",), expected_drift_summary),
]


def check_rows_response(body: dict, expected: list[dict], keys: tuple, limit: int) -> None:
    """Compare a rows view with the mart rows it should list: newest date first, then site and
    ``keys``, at most ``limit`` of them, and a summary over all of them."""
    ordered = sorted(
        expected, key=lambda r: (-r["date"].toordinal(), r["site_id"], *(r[k] for k in keys))
    )
    assert body["total_rows"] == len(expected)
    assert body["truncated"] is (len(expected) > limit)
    timestamps = {c["name"] for c in body["columns"] if c["type"].startswith("timestamp")}
    served = [parse_served(row, timestamps) for row in body["rows"]]
    listed = [{k: as_served(v) for k, v in row.items() if k != "diff"} for row in ordered]
    assert served == listed[:limit]
    summary = body["summary"]
    assert summary["rows"] == len(expected)
    assert summary["sites"] == len({r["site_id"] for r in expected})
    assert summary["dates"] == len({r["date"] for r in expected})


@pytest.mark.spark
@pytest.mark.parametrize(
    ("path", "table", "keys", "expected_summary"), ROW_VIEWS, ids=[v[0] for v in ROW_VIEWS]
)
def test_row_view_matches_mart(platform_world, world_client, path, table, keys, expected_summary):
    rows = mart_rows(platform_world, table)
    assert rows, f"the world has no rows in {table}"
    site = busiest_site(rows)
    for params in ({"days": 366, "limit": 5}, {"days": 2, "site_id": site, "limit": 500}):
        response = world_client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        first, last = window_dates(rows, params["days"])
        assert body["source"] == {
            "table": table,
            "materialized": True,
            "latest_date": last.isoformat(),
            "window": {
                "first_date": first.isoformat(),
                "last_date": last.isoformat(),
                "days": params["days"],
            },
        }
        expected = rows_in_window(rows, params["days"], params.get("site_id"))
        assert expected, f"no rows of {table} for {params}"
        check_rows_response(body, expected, keys, params["limit"])
        summary = body["summary"]
        assert {name: summary.get(name) for name in expected_summary(expected)} == (
            expected_summary(expected)
        )


@pytest.mark.spark
def test_device_views_filter_by_device_and_show_diff(platform_world, world_client):
    drift = mart_rows(platform_world, "netops.config_drift")
    device = platform_world.manual_change.device
    chosen = [r for r in drift if r["device"] == device]
    body = world_client.get(
        "/api/netops/config-drift", params={"days": 366, "device": device, "include_diff": "true"}
    ).json()
    assert body["total_rows"] == len(chosen) > 0
    by_date = {r["date"].isoformat(): r for r in chosen}
    assert {row["date"]: row["diff"] for row in body["rows"]} == {
        day: row["diff"] for day, row in by_date.items()
    }
    manual = by_date[platform_world.manual_change.day.isoformat()]
    assert platform_world.manual_change.added_line.strip() in manual["diff"]

    health = mart_rows(platform_world, "netops.device_health")
    served = world_client.get(
        "/api/netops/device-health", params={"days": 366, "device": device}
    ).json()
    assert served["total_rows"] == len([r for r in health if r["device"] == device]) > 0
    assert {row["device"] for row in served["rows"]} == {device}


@pytest.mark.spark
def test_registration_kpis_filter_by_site_and_window(platform_world, world_client):
    rows = mart_rows(platform_world, REGISTRATIONS)
    site = busiest_site(rows)
    chosen = rows_in_window(rows, 2, site)
    assert chosen, f"no registrations at {site}"
    body = world_client.get("/api/5g/registration-kpis", params={"days": 2, "site_id": site})
    assert body.status_code == 200
    body = body.json()
    attempts, successful = total(chosen, "total_attempts"), total(chosen, "successful")
    assert body["totals"]["total_attempts"] == attempts
    assert body["totals"]["successful"] == successful
    assert body["totals"]["failed"] == total(chosen, "failed")
    assert body["totals"]["success_rate"] == pct(successful, attempts)
    assert body["totals"]["max_p95_latency"] == extreme(max, chosen, "p95_latency")
    latest = {}
    for row in sorted(chosen, key=lambda r: r["date"]):
        latest[row["amf_instance"]] = row
    assert {g["amf_instance"]: (g["latest_status"], g["last_date"]) for g in body["rows"]} == {
        amf: (row["deployment_status"], row["date"].isoformat()) for amf, row in latest.items()
    }
    assert {g["site_id"] for g in body["rows"]} == {site}
    daily = {p["date"]: p["totals"]["total_attempts"] for p in body["daily"]}
    per_date = defaultdict(int)
    for row in chosen:
        per_date[row["date"].isoformat()] += row["total_attempts"]
    assert daily == per_date


@pytest.mark.spark
def test_registration_failures_match_mart(platform_world, world_client):
    rows = mart_rows(platform_world, REGISTRATION_FAILURES)
    site = busiest_site(rows)
    for params in ({"days": 366, "limit": 3}, {"days": 2, "site_id": site, "limit": 20}):
        chosen = rows_in_window(rows, params["days"], params.get("site_id"))
        assert chosen
        groups = defaultdict(lambda: {"attempts": 0, "distinct_ues": 0, "sites": set()})
        for row in chosen:
            group = groups[(row["outcome"], row["cause_code"], row["cause_name"])]
            group["attempts"] += row["attempts"]
            group["distinct_ues"] += row["distinct_ues"]
            group["sites"].add(row["site_id"])
        response = world_client.get("/api/5g/registration-failures", params=params)
        assert response.status_code == 200
        body = response.json()
        assert body["total_attempts"] == total(chosen, "attempts")
        served = body["rows"]
        assert len(served) == min(params["limit"], len(groups))
        counts = [g["attempts"] for g in served]
        assert (
            counts == sorted((g["attempts"] for g in groups.values()), reverse=True)[: len(served)]
        )
        for group in served:
            expected = groups[(group["outcome"], group["cause_code"], group["cause_name"])]
            assert group["attempts"] == expected["attempts"]
            assert group["distinct_ues"] == expected["distinct_ues"]
            assert group["sites_affected"] == len(expected["sites"])


@pytest.mark.spark
def test_site_5g_and_device_sections_match_marts(platform_world, world_client):
    registrations = mart_rows(platform_world, REGISTRATIONS)
    site = busiest_site(registrations)
    response = world_client.get(f"/api/deployment-manager/sites/{site}", params={"days": 2})
    assert response.status_code == 200
    body = response.json()

    chosen = rows_in_window(registrations, 2, site)
    core5g = body["5g"]
    assert core5g["source"]["latest_date"] == max(r["date"] for r in registrations).isoformat()
    attempts, successful = total(chosen, "total_attempts"), total(chosen, "successful")
    assert core5g["totals"]["total_attempts"] == attempts
    assert core5g["totals"]["no_response"] == total(chosen, "no_response")
    assert core5g["totals"]["success_rate"] == pct(successful, attempts)
    assert {g["amf_instance"] for g in core5g["amf_instances"]} == {
        r["amf_instance"] for r in chosen
    }

    devices = rows_in_window(mart_rows(platform_world, "netops.device_health"), 2, site)
    assert body["device_health"]["rows"] == len(devices)
    assert {k: body["device_health"].get(k) for k in expected_device_summary(devices)} == (
        expected_device_summary(devices)
    )
    drift = rows_in_window(mart_rows(platform_world, "netops.config_drift"), 2, site)
    assert body["config_drift"]["rows"] == len(drift)
    assert {k: body["config_drift"].get(k) for k in expected_drift_summary(drift)} == (
        expected_drift_summary(drift)
    )


@pytest.mark.spark
def test_summary_5g_fields_match_mart(platform_world, world_client):
    rows = mart_rows(platform_world, REGISTRATIONS)
    chosen = rows_in_window(rows, 30)
    site_days = defaultdict(lambda: [0, 0])
    for row in chosen:
        sums = site_days[(row["date"], row["site_id"])]
        sums[0] += row["successful"]
        sums[1] += row["total_attempts"]
    rates = {key: pct(ok, attempts) for key, (ok, attempts) in site_days.items() if attempts}
    target = api_settings(platform_world.settings.warehouse_dir).healthy_success_rate
    per_site = defaultdict(list)
    for (_, site), value in rates.items():
        per_site[site].append(value)

    body = world_client.get("/api/stats/summary", params={"days": 30}).json()["5g"]
    assert body["avg_success_rate"] == round(sum(rates.values()) / len(rates), 2)
    assert body["site_days"] == len(rates)
    assert body["site_days_meeting_sla"] == sum(1 for v in rates.values() if v >= target)
    assert body["sites"] == len(per_site)
    assert body["sites_below_sla"] == sorted(
        site for site, values in per_site.items() if sum(values) / len(values) < target
    )
    assert body["total_attempts"] == total(chosen, "total_attempts")
    assert body["overall_success_rate"] == pct(
        total(chosen, "successful"), total(chosen, "total_attempts")
    )
    assert body["max_p95_latency"] == extreme(max, chosen, "p95_latency")


@pytest.mark.spark
@pytest.mark.parametrize(
    "path",
    [
        "/api/deployment-manager/sites/SITE999",
        "/api/netops/deployments?site_id=SITE999",
        "/api/netops/failures?site_id=SITE999",
        "/api/5g/registration-kpis?site_id=SITE999",
        "/api/netops/device-health?site_id=SITE999",
        "/api/netops/config-drift?site_id=SITE999",
        "/api/5g/registration-failures?site_id=SITE999",
        "/api/5g/session-kpis?site_id=SITE999",
        "/api/5g/cell-throughput?site_id=SITE999",
        "/api/5g/nf-health?site_id=SITE999",
    ],
)
def test_unknown_site_is_404_naming_it(world_client, path):
    response = world_client.get(path)
    assert response.status_code == 404
    assert "'SITE999'" in response.json()["detail"]


@pytest.mark.spark
@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/api/netops/deployments?days=0", "days '0'"),
        ("/api/netops/deployments?days=367", "days '367'"),
        ("/api/netops/deployment-trends?days=abc", "days 'abc'"),
        ("/api/deployment-manager/overview?days=-1", "days '-1'"),
        ("/api/netops/deployments?site_id=A%7CB", "site_id 'A|B'"),
        ("/api/netops/failures?site_id=%5BX%5D", "site_id '[X]'"),
        ("/api/deployment-manager/sites/A,B", "site_id 'A,B'"),
        ("/api/netops/deployments?site_id=SITE001%0A", "site_id 'SITE001\\n'"),
        ("/api/netops/failures?limit=0", "limit '0'"),
        ("/api/5g/registration-failures?limit=99999", "limit '99999'"),
    ],
)
def test_invalid_parameter_is_400_naming_value(world_client, path, named):
    response = world_client.get(path)
    assert response.status_code == 400
    body = response.json()
    assert named in body["detail"]
    assert "Traceback" not in response.text


@pytest.mark.spark
def test_api_key_required_when_configured(platform_world):
    settings = api_settings(platform_world.settings.warehouse_dir, api_keys=(API_KEY, OTHER_KEY))
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/health").status_code == 200
        missing = client.get("/api/stats/summary")
        assert missing.status_code == 401
        assert "X-API-Key" in missing.json()["detail"]
        wrong = client.get("/api/stats/summary", headers={"X-API-Key": API_KEY + "x"})
        assert wrong.status_code == 401
        assert API_KEY not in wrong.text
        for key in (API_KEY, OTHER_KEY):
            assert client.get("/api/stats/summary", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/metrics").status_code == 401
        schema = client.get("/api/schema/openapi.json").json()
        assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
        assert "security" not in schema["paths"]["/api/health"]["get"]
        assert schema["paths"]["/api/stats/summary"]["get"]["security"] == [{"ApiKey": []}]


def test_api_keys_read_from_file(tmp_path, monkeypatch):
    from api_service.settings import load_api_settings

    keys = tmp_path / "keys"
    keys.write_text(f"# dashboards\n{API_KEY}\n\n{OTHER_KEY}  # scripts\n")
    monkeypatch.setenv("DM_API_KEYS_FILE", str(keys))
    monkeypatch.setenv("DM_API_KEYS", "k-extra")
    assert load_api_settings().api_keys == ("k-extra", API_KEY, OTHER_KEY)


def test_invalid_settings_name_variable(monkeypatch):
    from api_service.settings import ApiSettingsError, load_api_settings

    monkeypatch.setenv("DM_API_RATE_LIMIT", "fast")
    with pytest.raises(ApiSettingsError, match="DM_API_RATE_LIMIT='fast'"):
        load_api_settings()


@pytest.mark.spark
def test_rate_limit_per_key(platform_world):
    settings = api_settings(
        platform_world.settings.warehouse_dir,
        api_keys=(API_KEY, OTHER_KEY),
        rate_limit=0.5,
        rate_burst=2,
    )
    with TestClient(create_app(settings)) as client:
        statuses = [
            client.get("/api/stats/summary", headers={"X-API-Key": API_KEY}).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        limited = client.get("/api/stats/summary", headers={"X-API-Key": API_KEY})
        assert int(limited.headers["retry-after"]) >= 1
        assert "rate limit" in limited.json()["detail"]
        other = client.get("/api/stats/summary", headers={"X-API-Key": OTHER_KEY})
        assert other.status_code == 200


@pytest.mark.spark
def test_new_partition_appears_without_restart(platform_world, warehouse_copy):
    metrics_dir = table_dir(warehouse_copy, DEPLOYMENTS)
    with TestClient(create_app(api_settings(warehouse_copy))) as client:
        before = client.get("/api/netops/deployments", params={"days": 1}).json()
        latest = date.fromisoformat(before["source"]["latest_date"])
        source = next((metrics_dir / f"date={latest}").glob("site_id=*/*.orc"))
        rows = orc.read_table(source)
        new_day = latest + timedelta(days=1)
        write_partition(warehouse_copy, DEPLOYMENTS, new_day, "SITE001", rows)

        after = client.get("/api/netops/deployments", params={"days": 1}).json()
        assert after["source"]["latest_date"] == new_day.isoformat()
        assert after["totals"]["total_executions"] == sum(rows["total_executions"].to_pylist())
        assert [g["site_id"] for g in after["rows"]] == ["SITE001"] * rows.num_rows


@pytest.mark.spark
def test_replaced_and_dropped_partitions_refresh(platform_world, warehouse_copy):
    with TestClient(create_app(api_settings(warehouse_copy))) as client:
        before = client.get("/api/netops/deployments", params={"days": 1}).json()
        latest = date.fromisoformat(before["source"]["latest_date"])
        site_folder = table_dir(warehouse_copy, DEPLOYMENTS) / f"date={latest}" / "site_id=SITE001"
        rows = orc.read_table(next(site_folder.glob("*.orc")))
        doubled = rows.set_column(
            rows.column_names.index("total_executions"),
            "total_executions",
            pa.array([v * 2 for v in rows["total_executions"].to_pylist()], pa.int64()),
        )
        write_partition(warehouse_copy, DEPLOYMENTS, latest, "SITE001", doubled, "part-1.orc")
        replaced = client.get(
            "/api/netops/deployments", params={"days": 1, "site_id": "SITE001"}
        ).json()
        assert replaced["totals"]["total_executions"] == 2 * sum(
            rows["total_executions"].to_pylist()
        )

        shutil.rmtree(site_folder)
        dropped = client.get("/api/netops/deployments", params={"days": 1}).json()
        assert "SITE001" not in {g["site_id"] for g in dropped["rows"]}
        others = [g for g in before["rows"] if g["site_id"] != "SITE001"]
        assert dropped["rows"] == others


@pytest.mark.spark
def test_watcher_shows_new_day(platform_world, warehouse_copy):
    app = create_app(api_settings(warehouse_copy, check_seconds=0.2))
    with TestClient(app) as client:
        before = client.get("/api/netops/deployments", params={"days": 1}).json()
        latest = date.fromisoformat(before["source"]["latest_date"])
        folder = table_dir(warehouse_copy, DEPLOYMENTS) / f"date={latest}"
        rows = orc.read_table(next(folder.glob("site_id=*/*.orc")))
        new_day = latest + timedelta(days=1)
        write_partition(warehouse_copy, DEPLOYMENTS, new_day, "SITE002", rows)
        table = app.state.service.store.table(DEPLOYMENTS)
        assert table.watched
        # A request after the write gets the snapshot that was current when it arrived. The
        # watcher reads the new day in the background, so no request looks at the folders.
        deadline = time.monotonic() + 10
        latest_seen = before["source"]["latest_date"]
        while latest_seen != new_day.isoformat() and time.monotonic() < deadline:
            time.sleep(0.05)
            latest_seen = client.get("/api/netops/deployments", params={"days": 1}).json()[
                "source"
            ]["latest_date"]
        assert latest_seen == new_day.isoformat()
    assert not table.watched


@pytest.mark.spark
def test_unchanged_tables_are_served_from_cache(platform_world):
    settings = api_settings(platform_world.settings.warehouse_dir, check_seconds=60.0)
    app = create_app(settings)
    with TestClient(app) as client:
        first = client.get("/api/netops/failures", params={"days": 2})
        store = app.state.service.store
        misses = store.misses
        second = client.get("/api/netops/failures", params={"days": 2})
        assert second.json() == first.json()
        assert store.misses == misses


@pytest.mark.spark
def test_missing_table_is_not_materialized(platform_world, warehouse_copy):
    shutil.rmtree(table_dir(warehouse_copy, SITE_HEALTH))
    with TestClient(create_app(api_settings(warehouse_copy))) as client:
        health = {t["table"]: t for t in client.get("/api/health").json()["tables"]}
        assert health[SITE_HEALTH]["materialized"] is False
        assert health[SITE_HEALTH]["latest_date"] is None
        site = client.get("/api/deployment-manager/sites/SITE001")
        assert site.status_code == 200
        assert site.json()["daily"] == {
            "source": {
                "table": SITE_HEALTH,
                "materialized": False,
                "latest_date": None,
                "window": None,
            },
            "rows": [],
        }
        for path in (
            "/api/5g/session-kpis",
            "/api/5g/cell-throughput",
            "/api/5g/nf-health",
            "/api/5g/registration-failures",
            "/api/stats/summary",
        ):
            assert client.get(path).status_code == 200, path


@pytest.mark.spark
def test_added_column_appears_in_rows(platform_world, warehouse_copy):
    with TestClient(create_app(api_settings(warehouse_copy))) as client:
        latest = client.get("/api/health").json()["tables"]
        latest_date = date.fromisoformat(
            next(t for t in latest if t["table"] == SITE_HEALTH)["latest_date"]
        )
        folder = table_dir(warehouse_copy, SITE_HEALTH) / f"date={latest_date}" / "site_id=SITE001"
        rows = orc.read_table(next(folder.glob("*.orc")))
        scored = rows.append_column("health_score_test", pa.array([87.5] * rows.num_rows))
        write_partition(warehouse_copy, SITE_HEALTH, latest_date, "SITE001", scored)

        daily = client.get("/api/deployment-manager/sites/SITE001", params={"days": 2}).json()
        newest, older = daily["daily"]["rows"][0], daily["daily"]["rows"][1]
        assert newest["health_score_test"] == 87.5
        assert older["health_score_test"] is None
        health = {t["table"]: t for t in client.get("/api/health").json()["tables"]}
        assert "health_score_test" in health[SITE_HEALTH]["columns"]


def registration_rows(amf: str, attempts: int, successful: int, latency: float) -> pa.Table:
    """One row of core5g.registration_kpis; one unanswered attempt, the others rejected."""
    return pa.table(
        {
            "amf_instance": [amf],
            "total_attempts": pa.array([attempts], pa.int64()),
            "successful": pa.array([successful], pa.int64()),
            "failed": pa.array([max(attempts - successful - 1, 0)], pa.int64()),
            "no_response": pa.array([min(attempts - successful, 1)], pa.int64()),
            "latency_samples": pa.array([successful], pa.int64()),
            "success_rate": [pct(successful, attempts)],
            "avg_latency": [latency],
            "p95_latency": [latency * 3],
            "p99_latency": [latency * 5],
            "deployment_status": ["healthy"],
            "processed_at": pa.array([datetime(2026, 11, 4, 6, 0)], pa.timestamp("us")),
        }
    )


@pytest.fixture
def registrations_warehouse(tmp_path) -> Path:
    """A warehouse with only the 5G registration marts, written as Spark lays them out."""
    warehouse = tmp_path / "warehouse"
    day1, day2 = date(2026, 11, 2), date(2026, 11, 3)
    write_partition(
        warehouse, REGISTRATIONS, day1, "SITE001", registration_rows("amf-1", 100, 98, 40.0)
    )
    write_partition(
        warehouse, REGISTRATIONS, day2, "SITE001", registration_rows("amf-1", 300, 270, 60.0)
    )
    write_partition(
        warehouse, REGISTRATIONS, day2, "SITE002", registration_rows("amf-2", 50, 50, 20.0)
    )
    failures = pa.table(
        {
            "amf_instance": ["amf-1", "amf-1", "amf-1"],
            "outcome": ["reject", "reject", "no_response"],
            "cause_code": pa.array([22, 3, None], pa.int32()),
            "cause_name": ["Congestion", "Illegal UE", "no response"],
            "attempts": pa.array([25, 5, 1], pa.int64()),
            "distinct_ues": pa.array([20, 1, 1], pa.int64()),
            "first_seen": pa.array(
                [datetime(2026, 11, 3, 1), datetime(2026, 11, 3, 2), datetime(2026, 11, 3, 5)]
            ),
            "last_seen": pa.array(
                [datetime(2026, 11, 3, 23), datetime(2026, 11, 3, 4), datetime(2026, 11, 3, 5)]
            ),
        }
    )
    write_partition(warehouse, REGISTRATION_FAILURES, day2, "SITE001", failures)
    return warehouse


def test_registration_kpis_pool_counts(registrations_warehouse):
    with TestClient(create_app(api_settings(registrations_warehouse))) as client:
        body = client.get("/api/5g/registration-kpis", params={"days": 2}).json()
        assert body["totals"]["total_attempts"] == 450
        assert body["totals"]["successful"] == 418
        assert body["totals"]["no_response"] == 2
        assert body["totals"]["failed"] == 30
        assert body["totals"]["success_rate"] == pct(418, 450)
        weighted = (98 * 40 + 270 * 60 + 50 * 20) / 418
        assert body["totals"]["avg_latency"] == round(weighted, 3)
        assert body["totals"]["max_p95_latency"] == 180.0
        groups = {(g["site_id"], g["amf_instance"]): g for g in body["rows"]}
        assert groups[("SITE001", "amf-1")]["totals"]["total_attempts"] == 400
        assert [d["date"] for d in body["daily"]] == ["2026-11-02", "2026-11-03"]

        one_day = client.get("/api/5g/registration-kpis", params={"days": 1}).json()
        assert one_day["totals"]["total_attempts"] == 350

        summary = client.get("/api/stats/summary", params={"days": 2}).json()
        assert summary["5g"]["avg_success_rate"] == round((98.0 + 90.0 + 100.0) / 3, 2)
        assert summary["5g"]["sites_below_sla"] == ["SITE001"]
        assert summary["netops"]["source"]["materialized"] is False
        assert summary["netops"]["avg_success_rate"] is None


def test_registration_failures_keep_no_response(registrations_warehouse):
    with TestClient(create_app(api_settings(registrations_warehouse))) as client:
        body = client.get("/api/5g/registration-failures").json()
    unanswered = [r for r in body["rows"] if r["outcome"] == "no_response"]
    assert len(unanswered) == 1
    assert unanswered[0]["cause_code"] is None
    assert unanswered[0]["attempts"] == 1


def test_registration_failures_by_cause(registrations_warehouse):
    with TestClient(create_app(api_settings(registrations_warehouse))) as client:
        body = client.get("/api/5g/registration-failures", params={"limit": 1}).json()
        assert body["total_attempts"] == 31
        assert len(body["rows"]) == 1
        top = body["rows"][0]
        assert (top["outcome"], top["cause_code"], top["cause_name"]) == (
            "reject",
            22,
            "Congestion",
        )
        assert top["attempts"] == 25
        assert top["last_seen"] == "2026-11-03T23:00:00Z"
        assert top["amf_instances"] == ["amf-1"]


def test_empty_warehouse_serves_every_endpoint(tmp_path):
    app = create_app(api_settings(tmp_path / "nothing-here"))
    with TestClient(app) as client:
        schema = client.get("/api/schema/openapi.json").json()
        for path in schema["paths"]:
            # Alerts come from PostgreSQL, not from the warehouse.
            if "{site_id}" in path or path == "/api/alerts":
                continue
            response = client.get(path)
            assert response.status_code == 200, path
        assert client.get("/api/deployment-manager/sites/SITE001").status_code == 404


def test_internal_error_hides_traceback(tmp_path, monkeypatch):
    from api_service.queries import netops

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal state")

    monkeypatch.setattr(netops, "failures", broken)
    with TestClient(create_app(api_settings(tmp_path))) as client:
        response = client.get("/api/netops/failures")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"].startswith("internal error ")
    assert "secret" not in response.text
    assert "Traceback" not in response.text


def test_unknown_and_repeated_parameters_rejected(tmp_path):
    with TestClient(create_app(api_settings(tmp_path))) as client:
        misspelt = client.get("/api/netops/deployments", params={"site": "SITE001"})
        repeated = client.get("/api/netops/deployments?days=1&days=2")
        health = client.get("/api/health", params={"verbose": "1"})
    assert misspelt.status_code == 400
    assert "'site' is unknown" in misspelt.json()["detail"]
    assert "days, playbook, site_id" in misspelt.json()["detail"]
    assert repeated.status_code == 400
    assert "'days' is given 2 times" in repeated.json()["detail"]
    assert health.status_code == 400
    assert "takes no query parameters" in health.json()["detail"]


def test_unknown_path_and_method_are_json(tmp_path):
    with TestClient(create_app(api_settings(tmp_path))) as client:
        missing = client.get("/api/nothing")
        assert missing.status_code == 404
        assert "'/api/nothing'" in missing.json()["detail"]
        post = client.post("/api/health")
        assert post.status_code == 405
        assert "POST" in post.json()["detail"]


def test_openapi_documents_every_endpoint(tmp_path):
    with TestClient(create_app(api_settings(tmp_path))) as client:
        schema = client.get("/api/schema/openapi.json").json()
        assert client.get("/api/schema/swagger").status_code == 200
    expected = {
        "/api/health",
        "/api/deployment-manager/overview",
        "/api/deployment-manager/sites/{site_id}",
        "/api/netops/deployments",
        "/api/netops/deployment-trends",
        "/api/netops/failures",
        "/api/netops/config-drift",
        "/api/netops/device-health",
        "/api/5g/registration-kpis",
        "/api/5g/registration-failures",
        "/api/5g/session-kpis",
        "/api/5g/cell-throughput",
        "/api/5g/nf-health",
        "/api/stats/summary",
        "/api/alerts",
    }
    assert set(schema["paths"]) == expected
    for path, item in schema["paths"].items():
        assert item["get"]["description"].strip(), path
    days = next(
        p
        for p in schema["paths"]["/api/netops/deployments"]["get"]["parameters"]
        if p["name"] == "days"
    )
    assert (days["schema"]["minimum"], days["schema"]["maximum"]) == (1, 366)


def test_metrics_count_requests(tmp_path):
    with TestClient(create_app(api_settings(tmp_path))) as client:
        client.get("/api/health")
        client.get("/api/netops/deployments?days=0")
        client.get("/api/nothing")
        text = client.get("/metrics").text
    assert 'dm_api_requests_total{method="GET",route="/api/health",status="200"} 1.0' in text
    assert (
        'dm_api_requests_total{method="GET",route="/api/netops/deployments",status="400"} 1.0'
        in text
    )
    assert 'dm_api_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert (
        'dm_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/health"}'
        in text
    )


def test_access_log_json_line_without_key(tmp_path):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    app = create_app(api_settings(tmp_path, api_keys=(API_KEY,)))
    access = logging.getLogger("api_service.access")
    handler.setFormatter(next(h.formatter for h in logging.getLogger("api_service").handlers))
    access.addHandler(handler)
    try:
        with TestClient(app) as client:
            client.get("/api/stats/summary?days=3", headers={"X-API-Key": API_KEY})
    finally:
        access.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["path"] == "/api/stats/summary"
    assert entry["query"] == "days=3"
    assert entry["status"] == 200
    assert entry["duration_ms"] > 0
    assert entry["api_key_id"] and entry["api_key_id"] != API_KEY
    assert API_KEY not in stream.getvalue()


def test_cached_responses_counted_and_logged(tmp_path):
    app = create_app(api_settings(tmp_path, check_seconds=60.0))
    handler = logging.getLogger("api_service").handlers[0]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        with TestClient(app) as client:
            bodies = [client.get("/api/netops/deployments?days=2").json() for _ in range(3)]
            store = app.state.service.store
            lookups = store.hits + store.misses
            assert client.get("/api/netops/deployments?days=2").json() == bodies[0]
            assert store.hits + store.misses == lookups
            text = client.get("/metrics").text
    finally:
        handler.setStream(previous)
    route = 'method="GET",route="/api/netops/deployments"'
    assert f'dm_api_requests_total{{{route},status="200"}} 4.0' in text
    assert f"dm_api_request_duration_seconds_count{{{route}}} 4.0" in text
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "api_service.access"]
    assert [line["path"] for line in access] == ["/api/netops/deployments"] * 4 + ["/metrics"]
    for line in access[:4]:
        assert line["route"] == "/api/netops/deployments"
        assert line["status"] == 200
        assert line["query"] == "days=2"
        assert line["message"] == "request"
        assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_health_cached_until_next_check(tmp_path):
    app = create_app(api_settings(tmp_path, check_seconds=1.0))
    with TestClient(app) as client:
        store = app.state.service.store
        first = client.get("/api/health").json()
        lookups = store.hits + store.misses
        table = store.table(SITE_HEALTH)
        checks = table.check_count
        again = client.get("/api/health").json()
        if table.check_count == checks:
            assert again == first
            assert store.hits + store.misses == lookups
        deadline = time.monotonic() + 10
        while table.check_count == checks and time.monotonic() < deadline:
            time.sleep(0.05)
        assert table.check_count > checks
        later = client.get("/api/health").json()
        assert later["checked_at"] > first["checked_at"]
        assert store.hits + store.misses > lookups


def test_cors_response_not_cached_across_origins(tmp_path):
    allowed = "https://dashboards.example.net"
    settings = api_settings(tmp_path, cors_origins=(allowed,), check_seconds=60.0)
    with TestClient(create_app(settings)) as client:
        first = client.get("/api/netops/deployments", headers={"Origin": allowed})
        other = client.get(
            "/api/netops/deployments", headers={"Origin": "https://elsewhere.example.org"}
        )
    assert first.headers["access-control-allow-origin"] == allowed
    assert "access-control-allow-origin" not in other.headers


def test_cors_allows_configured_origin(tmp_path):
    settings = api_settings(tmp_path, cors_origins=("https://dashboards.example.net",))
    with TestClient(create_app(settings)) as client:
        allowed = client.get("/api/health", headers={"Origin": "https://dashboards.example.net"})
        other = client.get("/api/health", headers={"Origin": "https://elsewhere.example.org"})
    assert allowed.headers["access-control-allow-origin"] == "https://dashboards.example.net"
    assert "access-control-allow-origin" not in other.headers


def test_remote_warehouse_rejected(monkeypatch):
    from api_service.settings import ApiSettingsError, load_api_settings

    monkeypatch.setenv("DM_WAREHOUSE_DIR", "s3a://marts/warehouse")
    with pytest.raises(ApiSettingsError, match="s3a://marts/warehouse"):
        load_api_settings()
    monkeypatch.setenv("DM_WAREHOUSE_DIR", "file:///srv/warehouse")
    assert load_api_settings().warehouse_dir == Path("/srv/warehouse")


def test_warehouse_default_is_platform_setting(monkeypatch):
    from api_service.settings import load_api_settings
    from deploy_manager.settings import load_settings

    monkeypatch.delenv("DM_WAREHOUSE_DIR", raising=False)
    assert str(load_api_settings().warehouse_dir) == load_settings().warehouse_dir
    assert os.environ.get("DM_WAREHOUSE_DIR") is None
