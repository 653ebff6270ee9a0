"""Alerts: the ops.alerts store, webhook delivery to a receiver on 127.0.0.1, and the alert
sensor raising and clearing alerts for failed checks, late sites and KPI thresholds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pyarrow as pa
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DagsterInstance,
    Definitions,
    asset,
    build_sensor_context,
    define_asset_job,
)

from deploy_manager.alerts import store
from deploy_manager.alerts.sensors import ALERT_SENSOR_NAME, build_alert_sensor
from deploy_manager.alerts.settings import load_alert_settings
from deploy_manager.alerts.webhook import WebhookDeliveryError, post_json
from deploy_manager.checks.builders import build_key_not_null_checks, build_rate_checks
from deploy_manager.checks.catalog import MART_CHECKS, SITE_HEALTH
from deploy_manager.checks.freshness import build_site_freshness_check, utc_today
from deploy_manager.checks.partitioned import build_asset_checks
from deploy_manager.partitions import date_site_partitions, partition_key
from deploy_manager.resources.database import RawDatabase
from deploy_manager.resources.warehouse_files import WarehouseFiles

from .conftest import WORLD_DATES
from .warehouse_helpers import check_definitions, run_checks, write_partition

KPI_TABLE = "kpi.site_health_daily"
REGISTRATION_KEY = ["core5g", "registration_kpis"]
DEPLOYMENTS_KEY = AssetKey(["netops", "ansible_deployment_metrics"])


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that records each POST body and responds with the next
    of ``statuses``, or 200 once they run out. ``"sleep"`` waits longer than the test timeouts."""

    url: str = ""
    messages: list[dict] = field(default_factory=list)
    statuses: list[int | str] = field(default_factory=list)
    requests: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests += 1
            status = state.statuses.pop(0) if state.statuses else 200
            if status == "sleep":
                time.sleep(1.5)
                status = 200
            if status == 200:
                state.messages.append(json.loads(body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def alert_env(monkeypatch, receiver):
    """Alert settings for a test: the receiver as webhook, quick retries."""
    monkeypatch.setenv("DM_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("DM_ALERT_WEBHOOK_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("DM_ALERT_WEBHOOK_RETRIES", "1")
    monkeypatch.setenv("DM_FRESHNESS_LAG_DAYS", "2")
    monkeypatch.setenv("DM_ALERT_MIN_SUCCESS_RATE", "80")
    return receiver


def _condition(site: str = "S1", kind: str = "threshold") -> store.AlertCondition:
    return store.AlertCondition(
        kind=kind,
        severity="error",
        asset_key="kpi/site_health_daily",
        name="deployment_success_rate",
        scope=site,
        site_id=site,
        message=f"site {site} below the limit",
    )


def _rows(url: str, kind: str | None = None) -> list[dict]:
    with psycopg.connect(url) as conn:
        return store.list_alerts(conn, status="all", kind=kind, limit=1000)


def test_post_json_retries_unavailable_receiver(receiver):
    receiver.statuses = [503, 200]
    status = post_json(receiver.url, {"n": 1}, timeout_seconds=1, retries=2, backoff_seconds=0)
    assert status == 200
    assert receiver.requests == 2
    assert receiver.messages == [{"n": 1}]


def test_post_json_rejected_without_retry(receiver):
    receiver.statuses = [400]
    with pytest.raises(WebhookDeliveryError, match="HTTP 400"):
        post_json(receiver.url, {"n": 1}, timeout_seconds=1, retries=3, backoff_seconds=0)
    assert receiver.requests == 1


def test_post_json_times_out(receiver):
    receiver.statuses = ["sleep", "sleep"]
    with pytest.raises(WebhookDeliveryError, match="timed out"):
        post_json(receiver.url, {"n": 1}, timeout_seconds=0.3, retries=1, backoff_seconds=0)
    assert receiver.requests == 2


def test_webhook_url_must_be_http(monkeypatch):
    monkeypatch.setenv("DM_ALERT_WEBHOOK_URL", "ftp://127.0.0.1/alerts")
    with pytest.raises(ValueError, match=r"DM_ALERT_WEBHOOK_URL='ftp://127\.0\.0\.1/alerts'"):
        load_alert_settings()


def test_raise_is_deduplicated_until_cleared(fresh_database):
    with psycopg.connect(fresh_database) as conn:
        first = store.raise_alert(conn, _condition())
        again = store.raise_alert(conn, _condition())
        cleared = store.clear_alert(conn, _condition().alert_key)
        cleared_again = store.clear_alert(conn, _condition().alert_key)
        returned = store.raise_alert(conn, _condition())
        conn.commit()
    assert first is not None
    assert again is None
    assert cleared == first
    assert cleared_again is None
    assert returned not in (None, first)
    assert len(_rows(fresh_database)) == 2


def test_refresh_updates_open_alert_only(fresh_database):
    changed = store.AlertCondition(
        kind="threshold",
        severity="error",
        asset_key="kpi/site_health_daily",
        name="deployment_success_rate",
        scope="S1",
        site_id="S1",
        message="site S1 is further below the limit",
        details={"value": 40.0},
    )
    with psycopg.connect(fresh_database) as conn:
        store.raise_alert(conn, _condition())
        refreshed = store.refresh_alert(conn, changed)
        unchanged = store.refresh_alert(conn, changed)
        conn.commit()
    [row] = _rows(fresh_database)
    assert refreshed
    assert not unchanged
    assert row["message"] == "site S1 is further below the limit"
    assert row["details"] == {"value": 40.0}


def test_list_alerts_filters(fresh_database):
    with psycopg.connect(fresh_database) as conn:
        store.raise_alert(conn, _condition("S1"))
        store.raise_alert(conn, _condition("S2"))
        store.raise_alert(conn, _condition("S2", kind="freshness"))
        store.clear_alert(conn, _condition("S1").alert_key)
        conn.commit()
        open_rows = store.list_alerts(conn, status="open")
        cleared_rows = store.list_alerts(conn, status="cleared")
        site_rows = store.list_alerts(conn, status="all", site_id="S2", kind="threshold")
        limited = store.list_alerts(conn, status="all", limit=1)
    assert {(r["site_id"], r["kind"]) for r in open_rows} == {
        ("S2", "threshold"),
        ("S2", "freshness"),
    }
    assert [r["site_id"] for r in cleared_rows] == ["S1"]
    assert len(site_rows) == 1
    assert len(limited) == 1


@pytest.mark.parametrize(
    ("status", "kind", "limit", "message"),
    [
        ("closed", None, 10, "status 'closed' is invalid"),
        ("open", "drift", 10, "kind 'drift' is invalid"),
        ("open", None, 0, "limit 0 is invalid"),
    ],
)
def test_list_alerts_rejects_bad_filters(fresh_database, status, kind, limit, message):
    with psycopg.connect(fresh_database) as conn, pytest.raises(ValueError, match=message):
        store.list_alerts(conn, status=status, kind=kind, limit=limit)


def _tick(defs: Definitions, instance: DagsterInstance, cursor: str | None, warehouse, url):
    sensor = defs.resolve_sensor_def(ALERT_SENSOR_NAME)
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={
            "warehouse": WarehouseFiles(warehouse_dir=str(warehouse)),
            "raw_db": RawDatabase(url=url),
        },
    )
    return sensor(context)


def _with_alert_sensor(defs: Definitions) -> Definitions:
    return Definitions.merge(defs, Definitions(sensors=[build_alert_sensor()]))


def test_failed_check_alerts_once_then_clears(tmp_path, fresh_database, alert_env):
    key = ["core5g", "registration_kpis"]
    table = "core5g.registration_kpis"
    write_partition(tmp_path, table, "2026-11-01", "S1", {"rate": [120.0]})
    defs = _with_alert_sensor(check_definitions([build_rate_checks(key, ["rate"])], tmp_path))
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["S1", "S2"])
        day = date(2026, 11, 1)
        run_checks(defs, instance, day, day)
        first = _tick(defs, instance, None, tmp_path, fresh_database)
        second = _tick(defs, instance, first.cursor, tmp_path, fresh_database)
        raised_rows = _rows(fresh_database)
        raised_messages = list(alert_env.messages)

        write_partition(tmp_path, table, "2026-11-01", "S1", {"rate": [99.0]})
        run_checks(defs, instance, day, day)
        _tick(defs, instance, second.cursor, tmp_path, fresh_database)
    cleared_rows = _rows(fresh_database)

    assert len(raised_rows) == 1
    assert raised_rows[0]["kind"] == "check"
    assert raised_rows[0]["site_id"] == "S1"
    assert raised_rows[0]["partition_date"] == day
    assert raised_rows[0]["cleared_at"] is None
    assert [m["event"] for m in raised_messages] == ["raised"]
    assert raised_messages[0]["alert"]["name"] == "rates_in_range"
    assert len(cleared_rows) == 1
    assert cleared_rows[0]["cleared_at"] is not None
    assert cleared_rows[0]["clear_notified_at"] is not None
    assert [m["event"] for m in alert_env.messages] == ["raised", "cleared"]


def test_errored_check_alerts_every_partition(tmp_path, fresh_database, alert_env):
    table = "core5g.registration_kpis"
    for site in ("S1", "S2"):
        write_partition(tmp_path, table, "2026-11-01", site, {"other": [50.0]})
    # The column is missing, so the check raises instead of recording a result.
    checks = [build_rate_checks(REGISTRATION_KEY, ["rate"])]
    defs = _with_alert_sensor(check_definitions(checks, tmp_path))
    day = date(2026, 11, 1)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["S1", "S2"])
        crashed = run_checks(defs, instance, day, day)
        first = _tick(defs, instance, None, tmp_path, fresh_database)
        raised_rows = _rows(fresh_database)

        for site in ("S1", "S2"):
            write_partition(tmp_path, table, "2026-11-01", site, {"rate": [50.0]})
        passed = run_checks(defs, instance, day, day)
        _tick(defs, instance, first.cursor, tmp_path, fresh_database)
    cleared_rows = _rows(fresh_database)

    assert not crashed.success
    assert passed.success
    assert sorted(row["site_id"] for row in raised_rows) == ["S1", "S2"]
    for row in raised_rows:
        assert row["kind"] == "check"
        assert row["severity"] == "error"
        assert row["partition_date"] == day
        assert "raised an error" in row["message"]
        assert "['rate'] are not in core5g.registration_kpis" in row["message"]
    assert json.loads(first.cursor)["pending_runs"] == []
    assert all(row["cleared_at"] is not None for row in cleared_rows)
    assert sorted(m["event"] for m in alert_env.messages) == ["cleared"] * 2 + ["raised"] * 2


def test_errored_checks_alert_own_error(tmp_path, fresh_database, alert_env):
    """Two checks of one step raise: each check's alert quotes its own error."""
    write_partition(tmp_path, "core5g.registration_kpis", "2026-11-01", "S1", {"other": [1.0]})
    checks = [
        build_rate_checks(REGISTRATION_KEY, ["rate"]),
        build_key_not_null_checks(REGISTRATION_KEY, ["amf_instance"]),
    ]
    defs = _with_alert_sensor(check_definitions(checks, tmp_path))
    day = date(2026, 11, 1)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["S1"])
        crashed = run_checks(defs, instance, day, day)
        _tick(defs, instance, None, tmp_path, fresh_database)
    messages = {row["name"]: row["message"] for row in _rows(fresh_database)}

    assert not crashed.success
    assert set(messages) == {"rates_in_range", "keys_not_null"}
    assert "['rate'] are not in" in messages["rates_in_range"]
    assert "amf_instance" not in messages["rates_in_range"]
    assert "['amf_instance'] are not in" in messages["keys_not_null"]
    assert "['rate']" not in messages["keys_not_null"]


def test_check_skipped_after_asset_failure_raises_nothing(tmp_path, fresh_database, alert_env):
    @asset(key=REGISTRATION_KEY, partitions_def=date_site_partitions)
    def registrations() -> None:
        raise RuntimeError("Spark job failed")

    checks = build_asset_checks([build_rate_checks(REGISTRATION_KEY, ["rate"])])
    defs = _with_alert_sensor(
        Definitions(
            assets=[registrations],
            asset_checks=checks,
            jobs=[define_asset_job("with_checks")],
            resources={"warehouse": WarehouseFiles(warehouse_dir=str(tmp_path))},
        )
    )
    day = date(2026, 11, 1)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["S1"])
        result = defs.resolve_job_def("with_checks").execute_in_process(
            instance=instance, partition_key=str(partition_key(day, "S1")), raise_on_error=False
        )
        tick = _tick(defs, instance, None, tmp_path, fresh_database)

    assert not result.success
    assert "0 alerts raised" in tick.skip_reason.skip_message
    assert _rows(fresh_database) == []


def test_undelivered_alert_is_sent_next_tick(tmp_path, fresh_database, alert_env):
    write_partition(tmp_path, "core5g.registration_kpis", "2026-11-01", "S1", {"rate": [-1.0]})
    checks = [build_rate_checks(["core5g", "registration_kpis"], ["rate"])]
    defs = _with_alert_sensor(check_definitions(checks, tmp_path))
    alert_env.statuses = [503, 503]
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["S1"])
        run_checks(defs, instance, date(2026, 11, 1), date(2026, 11, 1))
        first = _tick(defs, instance, None, tmp_path, fresh_database)
        failed_rows = _rows(fresh_database)
        _tick(defs, instance, first.cursor, tmp_path, fresh_database)
    assert "delivery failed" in first.skip_reason.skip_message
    assert failed_rows[0]["raise_notified_at"] is None
    assert "HTTP 503" in failed_rows[0]["last_delivery_error"]
    assert len(_rows(fresh_database)) == 1
    assert [m["event"] for m in alert_env.messages] == ["raised"]


def _freshness_defs(tmp_path) -> Definitions:
    return _with_alert_sensor(
        Definitions(
            assets=[AssetSpec(SITE_HEALTH, partitions_def=date_site_partitions)],
            asset_checks=[build_site_freshness_check(SITE_HEALTH)],
        )
    )


def test_stale_site_alert_raised_and_cleared(tmp_path, fresh_database, alert_env):
    today = utc_today()
    defs = _freshness_defs(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["FRESH", "STALE"])
        for site, age in (("FRESH", 1), ("STALE", 5)):
            instance.report_runless_asset_event(
                AssetMaterialization(
                    SITE_HEALTH, partition=str(partition_key(today - timedelta(days=age), site))
                )
            )
        first = _tick(defs, instance, None, tmp_path, fresh_database)
        stale_rows = _rows(fresh_database, kind="freshness")
        instance.report_runless_asset_event(
            AssetMaterialization(
                SITE_HEALTH, partition=str(partition_key(today - timedelta(days=1), "STALE"))
            )
        )
        _tick(defs, instance, first.cursor, tmp_path, fresh_database)
    rows = _rows(fresh_database, kind="freshness")
    assert [r["site_id"] for r in stale_rows] == ["STALE"]
    assert stale_rows[0]["details"]["days_behind"] == 5
    assert rows[0]["cleared_at"] is not None
    assert [(m["event"], m["alert"]["site_id"]) for m in alert_env.messages] == [
        ("raised", "STALE"),
        ("cleared", "STALE"),
    ]


def test_success_rate_threshold_alert(tmp_path, fresh_database, alert_env):
    today = utc_today()
    day = (today - timedelta(days=1)).isoformat()
    older = (today - timedelta(days=2)).isoformat()
    write_partition(tmp_path, KPI_TABLE, older, "LOW", {"success_rate": [99.0]})
    write_partition(tmp_path, KPI_TABLE, day, "LOW", {"success_rate": [50.0]})
    write_partition(tmp_path, KPI_TABLE, day, "HIGH", {"success_rate": [99.0]})
    write_partition(
        tmp_path, KPI_TABLE, day, "IDLE", {"success_rate": pa.array([None], pa.float64())}
    )
    defs = _with_alert_sensor(
        Definitions(assets=[AssetSpec(SITE_HEALTH, partitions_def=date_site_partitions)])
    )
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["HIGH", "LOW", "IDLE"])
        first = _tick(defs, instance, None, tmp_path, fresh_database)
        breached = _rows(fresh_database, kind="threshold")
        write_partition(tmp_path, KPI_TABLE, day, "LOW", {"success_rate": [85.0]})
        _tick(defs, instance, first.cursor, tmp_path, fresh_database)
    rows = _rows(fresh_database, kind="threshold")
    assert [r["site_id"] for r in breached] == ["LOW"]
    assert breached[0]["details"] == {"value": 50.0, "limit": 80.0, "date": day}
    assert "DM_ALERT_MIN_SUCCESS_RATE=80%" in breached[0]["message"]
    assert rows[0]["cleared_at"] is not None


def test_registration_thresholds_need_the_5g_asset(tmp_path, fresh_database, alert_env):
    day = (utc_today() - timedelta(days=1)).isoformat()
    write_partition(
        tmp_path,
        "core5g.registration_kpis",
        day,
        "S1",
        {
            "amf_instance": ["amf-1", "amf-2"],
            "success_rate": [99.9, 99.0],
            "p95_latency": [250.0, 2500.0],
        },
    )
    without = _with_alert_sensor(Definitions())
    with_asset = _with_alert_sensor(
        Definitions(assets=[AssetSpec(REGISTRATION_KEY, partitions_def=date_site_partitions)])
    )
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("site", ["S1"])
        _tick(without, instance, None, tmp_path, fresh_database)
        inactive = _rows(fresh_database, kind="threshold")
        _tick(with_asset, instance, None, tmp_path, fresh_database)
    rows = _rows(fresh_database, kind="threshold")
    assert inactive == []
    assert [(r["name"], r["site_id"]) for r in rows] == [("registration_latency_p95", "S1")]


@pytest.mark.spark
def test_world_reconcile_failure_alerts_once(platform_world, alert_env, monkeypatch):
    # Only the check alert is under test: no site of the world is late or under the rate.
    monkeypatch.setenv("DM_FRESHNESS_LAG_DAYS", "36500")
    monkeypatch.setenv("DM_ALERT_MIN_SUCCESS_RATE", "0")
    warehouse = platform_world.settings.warehouse_dir
    url = platform_world.database_url
    day, site = WORLD_DATES[2], "SITE003"
    checks = [c for c in MART_CHECKS if {k.asset_key for k in c.check_keys} == {DEPLOYMENTS_KEY}]
    assert len(checks) == 1
    assert len(checks[0].check_keys) == 4
    checks_defs = check_definitions(checks, warehouse, url)
    instance = platform_world.instance
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM ops.alerts")
        conn.commit()
    cursor = _tick(platform_world.defs, instance, None, warehouse, url).cursor
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO raw.ansible_run_sites (run_id, site_id, run_date, playbook, completeness)"
            " VALUES ('alert-test-extra-run', %s, %s, 'extra.yml', 'complete')",
            (site, day),
        )
        conn.commit()
        try:
            run_checks(checks_defs, instance, day, day)
            cursor = _tick(platform_world.defs, instance, cursor, warehouse, url).cursor
            cursor = _tick(platform_world.defs, instance, cursor, warehouse, url).cursor
        finally:
            conn.execute("DELETE FROM raw.ansible_run_sites WHERE run_id = 'alert-test-extra-run'")
            conn.commit()
    raised = _rows(url)
    run_checks(checks_defs, instance, day, day)
    _tick(platform_world.defs, instance, cursor, warehouse, url)
    cleared = _rows(url)

    assert len(raised) == 1
    assert raised[0]["name"] == "reconcile_total_executions"
    assert raised[0]["site_id"] == site
    assert raised[0]["details"]["metadata"]["difference"] == -1
    assert len(cleared) == 1
    assert cleared[0]["cleared_at"] is not None
    assert [m["event"] for m in alert_env.messages] == ["raised", "cleared"]


@pytest.fixture
def api_client(tmp_path, fresh_database, monkeypatch):
    from litestar.testing import TestClient

    from api_service.app import create_app
    from api_service.settings import ApiSettings

    monkeypatch.setenv("DM_POSTGRES_URL", fresh_database)
    with TestClient(create_app(ApiSettings(warehouse_dir=tmp_path))) as client:
        yield client


def test_api_lists_alerts_with_filters(api_client, fresh_database):
    with psycopg.connect(fresh_database) as conn:
        store.raise_alert(conn, _condition("S1"))
        store.raise_alert(conn, _condition("S2"))
        store.raise_alert(conn, _condition("S2", kind="freshness"))
        store.clear_alert(conn, _condition("S2").alert_key)
        conn.commit()
    open_alerts = api_client.get("/api/alerts").json()
    filtered = api_client.get(
        "/api/alerts", params={"status": "all", "site_id": "S2", "kind": "threshold"}
    ).json()
    assert open_alerts["count"] == 2
    assert {(a["site_id"], a["kind"]) for a in open_alerts["alerts"]} == {
        ("S1", "threshold"),
        ("S2", "freshness"),
    }
    assert filtered["count"] == 1
    assert filtered["alerts"][0]["status"] == "cleared"
    assert filtered["alerts"][0]["cleared_at"] is not None
    assert api_client.get("/api/alerts", params={"limit": 1}).json()["count"] == 1


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"kind": "drift"}, "'drift' is invalid: use check, freshness or threshold"),
        ({"status": "closed"}, "'closed' is invalid: use open, cleared or all"),
        ({"site_id": "A|B"}, "'A|B'"),
        ({"limit": "0"}, "'0'"),
        ({"severity": "error"}, "'severity'"),
    ],
)
def test_api_rejects_bad_alert_filters(api_client, params, named):
    response = api_client.get("/api/alerts", params=params)
    assert response.status_code == 400
    assert named in response.json()["detail"]


def test_api_alerts_unavailable_without_database(api_client, monkeypatch):
    monkeypatch.setenv("DM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/dm_no_such_db")
    response = api_client.get("/api/alerts")
    assert response.status_code == 503
    assert "DM_POSTGRES_URL" in response.json()["detail"]
