"""The alerts table ops.alerts: raising, clearing, listing, and the webhook delivery state.

A condition (a failed check on a partition, a late site, a breached threshold) has one open
row at a time. The partial unique index on ``alert_key`` where ``cleared_at`` is NULL makes
raising idempotent, so a sensor tick that reads the same failure again changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

KINDS = ("check", "freshness", "threshold")
SEVERITIES = ("error", "warning")
STATUSES = ("open", "cleared", "all")
MAX_LIST_LIMIT = 1000

_COLUMNS = (
    "id",
    "kind",
    "severity",
    "asset_key",
    "name",
    "site_id",
    "partition_date",
    "message",
    "details",
    "raised_at",
    "cleared_at",
    "raise_notified_at",
    "clear_notified_at",
    "delivery_attempts",
    "last_delivery_error",
)
# Delivery bookkeeping, left out of the webhook message.
_DELIVERY_COLUMNS = (
    "raise_notified_at",
    "clear_notified_at",
    "delivery_attempts",
    "last_delivery_error",
)


@dataclass(frozen=True)
class AlertCondition:
    """A condition that should have an open alert. ``scope`` is the partition key of a check
    result (``date|site``), or the site of a freshness or threshold condition."""

    kind: str
    severity: str
    asset_key: str
    name: str
    scope: str
    message: str
    site_id: str | None = None
    partition_date: date | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"alert kind {self.kind!r} is invalid: use one of {KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"alert severity {self.severity!r} is invalid: use one of {SEVERITIES}"
            )

    @property
    def alert_key(self) -> str:
        return alert_key(self.kind, self.asset_key, self.name, self.scope)


def alert_key(kind: str, asset_key: str, name: str, scope: str) -> str:
    """Return the identity of a condition, for example
    ``check:netops/ansible_deployment_metrics:rates_in_range:2026-11-01|SITE001``."""
    return f"{kind}:{asset_key}:{name}:{scope}"


def raise_alert(conn: psycopg.Connection, condition: AlertCondition) -> int | None:
    """Insert an open alert for ``condition``; return its id, or None when one is open already."""
    row = conn.execute(
        "INSERT INTO ops.alerts (alert_key, kind, severity, asset_key, name, site_id,"
        " partition_date, message, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (alert_key) WHERE cleared_at IS NULL DO NOTHING RETURNING id",
        (
            condition.alert_key,
            condition.kind,
            condition.severity,
            condition.asset_key,
            condition.name,
            condition.site_id,
            condition.partition_date,
            condition.message,
            json.dumps(condition.details, default=str),
        ),
    ).fetchone()
    return row[0] if row else None


def refresh_alert(conn: psycopg.Connection, condition: AlertCondition) -> bool:
    """Update the message and details of the open alert of ``condition`` when they changed,
    for example the days a late site is behind. Return whether a row changed. No webhook
    message follows, because the condition itself goes on."""
    row = conn.execute(
        "UPDATE ops.alerts SET message = %s, details = %s, partition_date = %s"
        " WHERE alert_key = %s AND cleared_at IS NULL"
        " AND (message, details, partition_date) IS DISTINCT FROM (%s, %s::jsonb, %s)"
        " RETURNING id",
        (
            condition.message,
            json.dumps(condition.details, default=str),
            condition.partition_date,
            condition.alert_key,
            condition.message,
            json.dumps(condition.details, default=str),
            condition.partition_date,
        ),
    ).fetchone()
    return row is not None


def clear_alert(conn: psycopg.Connection, alert_key: str) -> int | None:
    """Set ``cleared_at`` on the open alert of ``alert_key``; return its id, or None when no
    alert of that key is open."""
    row = conn.execute(
        "UPDATE ops.alerts SET cleared_at = now()"
        " WHERE alert_key = %s AND cleared_at IS NULL RETURNING id",
        (alert_key,),
    ).fetchone()
    return row[0] if row else None


def open_alert_keys(conn: psycopg.Connection, kinds: Sequence[str]) -> set[str]:
    rows = conn.execute(
        "SELECT alert_key FROM ops.alerts WHERE cleared_at IS NULL AND kind = ANY(%s)",
        (list(kinds),),
    ).fetchall()
    return {r[0] for r in rows}


@dataclass(frozen=True)
class Notification:
    """One webhook message still to send: an alert was raised or cleared."""

    alert_id: int
    event: str
    alert: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {"event": self.event, "alert": _json_ready(self.alert)}


def _json_ready(alert: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, (date, datetime)) else v
        for k, v in alert.items()
        if k not in _DELIVERY_COLUMNS
    }


def pending_notifications(conn: psycopg.Connection, limit: int) -> list[Notification]:
    """Return the raise and clear messages not yet accepted by the webhook, oldest first.

    An alert cleared before its raise was sent yields both messages, raise first.
    """
    query = sql.SQL(
        "SELECT {} FROM ops.alerts"
        " WHERE raise_notified_at IS NULL"
        " OR (cleared_at IS NOT NULL AND clear_notified_at IS NULL)"
        " ORDER BY id LIMIT %s"
    ).format(sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (limit,)).fetchall()
    notifications = []
    for row in rows:
        if row["raise_notified_at"] is None:
            notifications.append(Notification(row["id"], "raised", row))
        if row["cleared_at"] is not None and row["clear_notified_at"] is None:
            notifications.append(Notification(row["id"], "cleared", row))
    return notifications


def mark_notified(conn: psycopg.Connection, notification: Notification) -> None:
    column = "raise_notified_at" if notification.event == "raised" else "clear_notified_at"
    conn.execute(
        sql.SQL(
            "UPDATE ops.alerts SET {} = now(), delivery_attempts = delivery_attempts + 1,"
            " last_delivery_error = NULL WHERE id = %s"
        ).format(sql.Identifier(column)),
        (notification.alert_id,),
    )


def record_delivery_failure(conn: psycopg.Connection, alert_id: int, error: str) -> None:
    conn.execute(
        "UPDATE ops.alerts SET delivery_attempts = delivery_attempts + 1,"
        " last_delivery_error = %s WHERE id = %s",
        (error[:2000], alert_id),
    )


def validate_filters(status: str, kind: str | None, limit: int) -> None:
    """Raise ValueError naming the first filter value that list_alerts cannot use."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is invalid: use one of {', '.join(STATUSES)}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind {kind!r} is invalid: use one of {', '.join(KINDS)}")
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit {limit} is invalid: use a whole number from 1 to {MAX_LIST_LIMIT}")


def list_alerts(
    conn: psycopg.Connection,
    *,
    status: str = "open",
    site_id: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Return alerts newest first, filtered by status (open, cleared, all), site and kind."""
    validate_filters(status, kind, limit)
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if status == "open":
        conditions.append(sql.SQL("cleared_at IS NULL"))
    elif status == "cleared":
        conditions.append(sql.SQL("cleared_at IS NOT NULL"))
    if site_id is not None:
        conditions.append(sql.SQL("site_id = %s"))
        params.append(site_id)
    if kind is not None:
        conditions.append(sql.SQL("kind = %s"))
        params.append(kind)
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL("SELECT {} FROM ops.alerts{} ORDER BY raised_at DESC, id DESC LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)), where
    )
    params.append(limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()
