"""Device health and configuration drift marts, and the site health score, checked against
the raw rows in PostgreSQL of the platform world."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import date

import psycopg
import pytest
from pyspark.sql import functions as F

from deploy_manager.netops.devices.marts import (
    CONFIG_DRIFT_TABLE,
    DEVICE_HEALTH_TABLE,
    bounded_diff,
)

from .conftest import CASE_SITE, WORLD_DATES, WORLD_GENERATED_SITES

pytestmark = pytest.mark.spark

SITE_HEALTH_TABLE = "kpi.site_health_daily"
SCORE_COLUMNS = (
    "deployment_score",
    "drift_score",
    "device_score",
    "registration_score",
    "health_score",
)
COUNTERS = ("if_in_errors", "if_out_errors", "if_in_discards", "if_out_discards")
RESET_DEVICE = "border-j1.site002"
# The weights of the README's section "Site health score", written out so that a change of
# the code's weights fails here.
HEALTH_WEIGHTS = {
    "deployment_score": 0.30,
    "device_score": 0.30,
    "drift_score": 0.20,
    "registration_score": 0.20,
}


def drift_row(world, device: str, day: date):
    rows = (
        world.spark.table(CONFIG_DRIFT_TABLE)
        .where((F.col("device") == device) & (F.col("date") == day))
        .collect()
    )
    assert len(rows) == 1, (device, day)
    return rows[0]


def deployed_hosts(world, day: date) -> set[str]:
    return {
        host
        for deployment in world.devices.deployments
        if deployment.started_at.date() == day
        for host in deployment.hosts
    }


def test_raw_assets_record_run_rows(platform_world):
    events = [
        event
        for event in platform_world.backfill_result.get_asset_materialization_events()
        if event.asset_key.to_user_string() == "raw/device_metrics"
    ]
    with psycopg.connect(platform_world.database_url) as conn:
        (expected,) = conn.execute("SELECT count(*) FROM raw.device_metrics").fetchone()
    partitions = {event.partition for event in events}

    assert expected > 0
    assert len(partitions) == len(events)
    assert {event.materialization.metadata["rows"].value for event in events} == {expected}
    assert {event.materialization.metadata["partitions"].value for event in events} == {
        len(partitions)
    }


def test_volatile_only_change_gives_no_drift(platform_world):
    day = WORLD_DATES[1]
    device = next(
        f"border-j1.{site.lower()}"
        for site in WORLD_GENERATED_SITES
        if f"border-j1.{site.lower()}" not in deployed_hosts(platform_world, day)
    )
    with psycopg.connect(platform_world.database_url) as conn:
        hashes = conn.execute(
            "SELECT raw_sha256, normalised_sha256 FROM raw.config_backups"
            " WHERE device = %s AND event_date IN (%s, %s) ORDER BY backup_time",
            (device, WORLD_DATES[0], day),
        ).fetchall()
    assert len(hashes) == 2
    assert hashes[0][0] != hashes[1][0]
    assert hashes[0][1] == hashes[1][1]

    row = drift_row(platform_world, device, day)
    assert row["drift_vs_previous"] is False
    assert row["volatile_only_changes"] == 1
    assert row["changes"] == 0
    assert row["lines_added"] == 0
    assert row["lines_removed"] == 0
    assert row["diff"] is None
    assert row["expected"] is None
    assert row["deployment_run_id"] is None


def test_manual_change_is_unexpected_drift(platform_world):
    change = platform_world.manual_change
    row = drift_row(platform_world, change.device, change.day)
    assert row["drift_vs_previous"] is True
    assert row["changes"] == 1
    assert row["lines_added"] == 1
    assert row["lines_removed"] == 1
    assert f"\n-{change.removed_line}\n" in row["diff"]
    assert f"\n+{change.added_line}\n" in row["diff"]
    assert row["diff_truncated"] is False
    assert row["expected"] is False
    assert row["unexpected_changes"] == 1
    assert row["deployment_run_id"] is None
    assert row["drift_vs_golden"] is True
    assert row["role"] == "core-switch"


def test_drift_after_deployment_is_expected(platform_world):
    # Generated Ansible runs also touch the edge routers, so only the other devices have
    # exactly one run in their deployment window.
    cases = [
        (deployment, host)
        for deployment in platform_world.devices.deployments
        for host in deployment.hosts
        if not host.startswith("edge-r")
    ]
    assert cases, "the device seed gives no deployment to a core switch or border router"
    for deployment, host in cases:
        row = drift_row(platform_world, host, deployment.started_at.date())
        assert row["drift_vs_previous"] is True, host
        assert row["expected"] is True, host
        assert row["unexpected_changes"] == 0, host
        assert row["deployment_run_id"] == deployment.run_id, host
        assert row["lines_added"] >= 1, host
        assert row["diff"] is not None, host


def test_device_health_matches_raw_samples(platform_world):
    with psycopg.connect(platform_world.database_url) as conn:
        expected = {
            (row[0], row[1], row[2]): row[3:]
            for row in conn.execute(
                "SELECT device, site_id, event_date, count(*),"
                " count(*) FILTER (WHERE reachable), count(*) FILTER (WHERE NOT reachable),"
                " percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_pct),"
                " percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu_pct), max(cpu_pct),"
                " percentile_cont(0.5) WITHIN GROUP (ORDER BY mem_pct),"
                " percentile_cont(0.95) WITHIN GROUP (ORDER BY mem_pct), max(mem_pct),"
                " count(*) FILTER (WHERE cardinality(quality_flags) > 0)"
                " FROM raw.device_metrics GROUP BY 1, 2, 3"
            )
        }
    rows = platform_world.spark.table(DEVICE_HEALTH_TABLE).collect()
    actual = {(r["device"], r["site_id"], r["date"]): r for r in rows}
    assert set(actual) == set(expected)
    assert len(expected) == len(WORLD_GENERATED_SITES) * 3 * len(WORLD_DATES)
    for key, values in expected.items():
        samples, reachable, unreachable, *percentiles, flagged = values
        row = actual[key]
        assert row["samples"] == samples, key
        assert row["reachable_samples"] == reachable, key
        assert row["unreachable_samples"] == unreachable, key
        availability = round(100.0 * reachable / (reachable + unreachable), 2)
        assert row["availability_pct"] == pytest.approx(availability, abs=1e-9), key
        names = ("cpu_p50", "cpu_p95", "cpu_max", "mem_p50", "mem_p95", "mem_max")
        for name, value in zip(names, percentiles, strict=True):
            assert row[name] == pytest.approx(value, abs=1e-9), (key, name)
        assert row["quality_flagged_samples"] == flagged, key


def reference_counter_rates(conn) -> tuple[dict, Counter]:
    """Compute errors and discards per hour and counter resets per (device, site, date),
    sample by sample in Python."""
    rows = conn.execute(
        "SELECT device, site_id, counter_kind, sample_time, event_date,"
        " if_in_errors, if_out_errors, if_in_discards, if_out_discards"
        " FROM raw.device_metrics ORDER BY device, site_id, counter_kind, sample_time"
    ).fetchall()
    totals: dict = defaultdict(lambda: defaultdict(float))
    resets: Counter = Counter()
    for (_, _, kind), samples in itertools.groupby(rows, key=lambda r: r[:3]):
        previous: dict[str, tuple] = {}
        for device, site, _, when, day, *values in samples:
            key = (device, site, day)
            reset = False
            for name, value in zip(COUNTERS, values, strict=True):
                if value is None:
                    continue
                if name in previous:
                    before_time, before = previous[name]
                    seconds = (when - before_time).total_seconds()
                    if kind == "per_second":
                        events = value * seconds
                    elif value < before:
                        events, reset = value, True
                    else:
                        events = value - before
                    totals[key][f"{name}_events"] += events
                    totals[key][f"{name}_seconds"] += seconds
                previous[name] = (when, value)
            resets[key] += reset

    def per_hour(counts: dict, names: tuple[str, ...]) -> float | None:
        rates = [
            counts[f"{n}_events"] * 3600.0 / counts[f"{n}_seconds"]
            for n in names
            if counts.get(f"{n}_seconds", 0) > 0
        ]
        return round(sum(rates), 4) if rates else None

    result = {
        key: (per_hour(counts, COUNTERS[:2]), per_hour(counts, COUNTERS[2:]))
        for key, counts in totals.items()
    }
    return result, resets


def test_counter_rates_handle_resets(platform_world):
    with psycopg.connect(platform_world.database_url) as conn:
        expected, resets = reference_counter_rates(conn)
    rows = platform_world.spark.table(DEVICE_HEALTH_TABLE).collect()
    reset_key = (RESET_DEVICE, "SITE002", WORLD_DATES[1])
    assert resets[reset_key] == 1
    for row in rows:
        key = (row["device"], row["site_id"], row["date"])
        errors, discards = expected.get(key, (None, None))
        assert row["counter_resets"] == resets[key], key
        assert row["if_errors_per_hour"] == pytest.approx(errors, abs=1e-3), key
        assert row["if_discards_per_hour"] == pytest.approx(discards, abs=1e-3), key


def test_bounded_diff_cuts_at_line_end(platform_world):
    frame = platform_world.spark.range(1).select(
        bounded_diff(F.lit("-a\n+bb\n+cc\n"), 9).alias("cut"),
        bounded_diff(F.lit("-a\n+b\n"), 9).alias("whole"),
    )
    row = frame.collect()[0]
    assert row["cut"] == "-a\n+bb\n"
    assert row["whole"] == "-a\n+b\n"


def test_site_health_scores_within_range(platform_world):
    spark = platform_world.spark
    registrations_exist = spark.catalog.tableExists("core5g.registration_kpis")
    rows = spark.table(SITE_HEALTH_TABLE).collect()
    assert rows
    for row in rows:
        for name in SCORE_COLUMNS:
            if row[name] is not None:
                assert 0.0 <= row[name] <= 100.0, (row["date"], row["site_id"], name)
        if not registrations_exist:
            assert row["registration_score"] is None


def site_day_scores_by_hand(conn, site: str, day: date) -> dict[str, float | None]:
    finished, successful = conn.execute(
        "SELECT count(*) FILTER (WHERE finished), count(*) FILTER (WHERE finished AND ok) FROM ("
        " SELECT rs.completeness = 'complete' AND EXISTS (SELECT 1 FROM raw.ansible_host_stats"
        "   hs WHERE hs.run_id = rs.run_id AND hs.site_id = rs.site_id) AS finished,"
        "  NOT EXISTS (SELECT 1 FROM raw.ansible_host_stats hs WHERE hs.run_id = rs.run_id"
        "   AND hs.site_id = rs.site_id AND NOT hs.succeeded) AS ok"
        " FROM raw.ansible_run_sites rs WHERE rs.run_date = %s AND rs.site_id = %s) runs",
        (day, site),
    ).fetchone()
    devices, unexpected = conn.execute(
        "SELECT count(DISTINCT device),"
        " count(DISTINCT device) FILTER (WHERE drift_vs_previous AND NOT expected)"
        " FROM raw.config_drift WHERE event_date = %s AND site_id = %s",
        (day, site),
    ).fetchone()
    reachable, known = conn.execute(
        "SELECT count(*) FILTER (WHERE reachable), count(reachable)"
        " FROM raw.device_metrics WHERE event_date = %s AND site_id = %s",
        (day, site),
    ).fetchone()
    return {
        "deployment_score": round(100.0 * successful / finished, 2) if finished else None,
        "drift_score": round(100.0 * (devices - unexpected) / devices, 2) if devices else None,
        "device_score": round(100.0 * reachable / known, 2) if known else None,
    }


def health_by_formula(components: dict[str, float | None]) -> float:
    """Compute the README's formula: the weighted mean of the components that are not NULL."""
    present = {name: value for name, value in components.items() if value is not None}
    weighted_sum = sum(HEALTH_WEIGHTS[name] * value for name, value in present.items())
    weight_total = sum(HEALTH_WEIGHTS[name] for name in present)
    return round(weighted_sum / weight_total, 2)


def test_health_score_follows_formula(platform_world):
    change = platform_world.manual_change
    with psycopg.connect(platform_world.database_url) as conn:
        scores = site_day_scores_by_hand(conn, change.site_id, change.day)
    row = (
        platform_world.spark.table(SITE_HEALTH_TABLE)
        .where((F.col("site_id") == change.site_id) & (F.col("date") == change.day))
        .collect()[0]
    )
    assert scores["drift_score"] == round(100.0 * 2 / 3, 2)
    assert row["deployment_score"] == pytest.approx(scores["deployment_score"], abs=1e-9)
    assert row["device_score"] == pytest.approx(scores["device_score"], abs=1e-9)
    assert row["drift_score"] == pytest.approx(scores["drift_score"], abs=1e-9)
    assert row["unexpected_drift_devices"] == 1
    assert row["devices_backed_up"] == 3
    # The registration component comes from the 5G mart, whose own tests check it.
    components = {**scores, "registration_score": row["registration_score"]}
    assert row["health_score"] == pytest.approx(health_by_formula(components), abs=1e-9)


def test_health_score_reweights_missing_components(platform_world):
    row = (
        platform_world.spark.table(SITE_HEALTH_TABLE)
        .where((F.col("site_id") == CASE_SITE) & (F.col("date") == date(2026, 11, 2)))
        .collect()[0]
    )
    assert row["device_score"] is None
    assert row["drift_score"] is None
    assert row["deployment_score"] == 0.0
    components = {name: row[name] for name in HEALTH_WEIGHTS}
    assert row["health_score"] == pytest.approx(health_by_formula(components), abs=1e-9)
