"""The alert sensor: check results, late sites and KPI thresholds in, rows of ops.alerts and
webhook messages out.

A failed asset check does not fail its run unless it blocks, so run-failure sensors never
see it; open-source Dagster has no alert policies. Each tick therefore:

1. reads the check results recorded since the cursor and raises or clears one alert per
   (check, partition). A check that raised an error has no result, so once its run has
   failed it raises the same alert as a failed check, and its next pass clears it. Runs
   still in progress are kept in the cursor until they finish;
2. recomputes the late sites and the threshold breaches and raises or clears their alerts;
3. sends every raise and clear not yet accepted by the webhook, oldest first. It stops at the
   first failed delivery so a down receiver is not hammered, and the rest go at the next tick.
"""

import json
import logging
from dataclasses import dataclass

import psycopg
from dagster import (
    AssetKey,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from deploy_manager.alerts import store
from deploy_manager.alerts.conditions import (
    check_changes,
    freshness_conditions,
    threshold_conditions,
)
from deploy_manager.alerts.settings import AlertSettings, load_alert_settings
from deploy_manager.alerts.webhook import WebhookDeliveryError, post_json
from deploy_manager.checks.freshness import FRESHNESS_CHECK_NAME, utc_today
from deploy_manager.partitions import site_partitions
from deploy_manager.resources.database import RawDatabase
from deploy_manager.resources.warehouse_files import WarehouseFiles

log = logging.getLogger(__name__)

ALERT_SENSOR_NAME = "alerts"
# Webhook messages sent per tick at most, so a backlog cannot outlast the tick's timeout.
MAX_NOTIFICATIONS_PER_TICK = 100


@dataclass
class AlertTick:
    """Counts of the alerts one tick raised, cleared and sent, and its delivery error."""

    raised: int = 0
    cleared: int = 0
    sent: int = 0
    delivery_error: str | None = None

    def summary(self) -> str:
        text = f"{self.raised} alerts raised, {self.cleared} cleared, {self.sent} messages sent"
        return f"{text}; delivery failed: {self.delivery_error}" if self.delivery_error else text


def _parse_cursor(cursor: str | None) -> tuple[int | None, list[str]]:
    """Return the check storage id and the pending run ids stored in the sensor's cursor."""
    if not cursor:
        return None, []
    state = json.loads(cursor)
    return state.get("check_storage_id"), list(state.get("pending_runs", []))


def _reconcile(
    conn: psycopg.Connection,
    raised_checks: list[store.AlertCondition],
    cleared_checks: list[str],
    recomputed: list[store.AlertCondition],
    tick: AlertTick,
) -> None:
    """Apply the check changes, and make the open freshness and threshold alerts equal the
    conditions recomputed this tick."""
    wanted = {c.alert_key: c for c in recomputed}
    is_open = store.open_alert_keys(conn, ["freshness", "threshold"])
    to_raise = raised_checks + [c for key, c in wanted.items() if key not in is_open]
    to_clear = cleared_checks + sorted(is_open - wanted.keys())
    with conn.transaction():
        for key in is_open & wanted.keys():
            store.refresh_alert(conn, wanted[key])
        for condition in to_raise:
            if store.raise_alert(conn, condition) is not None:
                tick.raised += 1
                log.info("raised alert %s: %s", condition.alert_key, condition.message)
        for key in to_clear:
            if store.clear_alert(conn, key) is not None:
                tick.cleared += 1
                log.info("cleared alert %s", key)


def deliver_notifications(
    conn: psycopg.Connection, settings: AlertSettings, tick: AlertTick
) -> None:
    """Send the pending raise and clear messages to the webhook, if one is configured."""
    if not settings.webhook_url:
        return
    for notification in store.pending_notifications(conn, MAX_NOTIFICATIONS_PER_TICK):
        try:
            post_json(
                settings.webhook_url,
                notification.payload(),
                timeout_seconds=settings.webhook_timeout_seconds,
                retries=settings.webhook_retries,
            )
        except WebhookDeliveryError as exc:
            tick.delivery_error = str(exc)
            log.error(
                "alert %d (%s) not delivered: %s", notification.alert_id, notification.event, exc
            )
            store.record_delivery_failure(conn, notification.alert_id, str(exc))
            conn.commit()
            return
        store.mark_notified(conn, notification)
        conn.commit()
        tick.sent += 1


def run_alert_tick(
    context: SensorEvaluationContext,
    warehouse: WarehouseFiles,
    raw_db: RawDatabase,
    settings: AlertSettings,
) -> SensorResult:
    """Evaluate one tick of the alert sensor (see the module docstring)."""
    instance = context.instance
    graph = context.repository_def.asset_graph
    check_keys = [k for k in graph.asset_check_keys if k.name != FRESHNESS_CHECK_NAME]
    fresh_assets = sorted(
        {k.asset_key for k in graph.asset_check_keys if k.name == FRESHNESS_CHECK_NAME},
        key=AssetKey.to_user_string,
    )
    today = utc_today()
    storage_id, pending_runs = _parse_cursor(context.cursor)
    changes = check_changes(instance, check_keys, storage_id, pending_runs)
    sites = list(instance.get_dynamic_partitions(site_partitions.name))
    recomputed = freshness_conditions(instance, fresh_assets, today, settings.freshness_lag_days)
    recomputed += threshold_conditions(
        warehouse, settings, set(graph.get_all_asset_keys()), sites, today
    )
    tick = AlertTick()
    with raw_db.connect() as conn:
        _reconcile(conn, changes.raised, changes.cleared, recomputed, tick)
        deliver_notifications(conn, settings, tick)
    context.log.info("alert sensor: %s", tick.summary())
    return SensorResult(
        cursor=json.dumps(
            {"check_storage_id": changes.cursor, "pending_runs": changes.pending_runs}
        ),
        skip_reason=tick.summary(),
    )


def build_alert_sensor(settings: AlertSettings | None = None):
    """Build the alert sensor; the interval comes from DM_ALERT_SENSOR_INTERVAL_SECONDS."""
    interval = (settings or load_alert_settings()).sensor_interval_seconds

    @sensor(
        name=ALERT_SENSOR_NAME,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        description="Record failed checks, late sites and KPI threshold breaches in ops.alerts "
        "and send each raise and clear to DM_ALERT_WEBHOOK_URL.",
    )
    def alert_sensor(
        context: SensorEvaluationContext, warehouse: WarehouseFiles, raw_db: RawDatabase
    ) -> SensorResult:
        return run_alert_tick(context, warehouse, raw_db, load_alert_settings())

    return alert_sensor
