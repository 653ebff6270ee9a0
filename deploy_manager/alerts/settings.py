"""Settings of checks and alerts, each read from one ``DM_*`` environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit


def _text(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _number(name: str, default: float, minimum: float, maximum: float | None = None) -> float:
    raw = _text(name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number: set it to a decimal value") from exc
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum:g}" if maximum is not None else ""
        raise ValueError(
            f"{name}={raw!r} is out of range: use a value of at least {minimum:g}{upper}"
        )
    return value


def _whole(name: str, default: int, minimum: int) -> int:
    raw = _text(name, str(default))
    if not raw.isdigit() or int(raw) < minimum:
        raise ValueError(f"{name}={raw!r} is invalid: use a whole number >= {minimum}")
    return int(raw)


def validate_webhook_url(url: str) -> str:
    """Return ``url`` unchanged when it is an http(s) URL with a host, else raise ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"DM_ALERT_WEBHOOK_URL={url!r} is invalid: use an http:// or https:// URL with a "
            "host, or leave it unset to record alerts without sending them"
        )
    return url


@dataclass(frozen=True)
class AlertSettings:
    """Thresholds, lateness limit and webhook of the alerts (see README, "Operations")."""

    freshness_lag_days: int
    min_success_rate: float
    min_registration_success_rate: float
    max_registration_p95_ms: float
    webhook_url: str | None
    webhook_timeout_seconds: float
    webhook_retries: int
    sensor_interval_seconds: int


def load_alert_settings() -> AlertSettings:
    """Read the alert settings from the environment; call again after changing a variable."""
    url = os.environ.get("DM_ALERT_WEBHOOK_URL", "").strip()
    return AlertSettings(
        freshness_lag_days=_whole("DM_FRESHNESS_LAG_DAYS", 2, 1),
        min_success_rate=_number("DM_ALERT_MIN_SUCCESS_RATE", 80.0, 0.0, 100.0),
        min_registration_success_rate=_number(
            "DM_ALERT_MIN_REGISTRATION_SUCCESS_RATE", 95.0, 0.0, 100.0
        ),
        max_registration_p95_ms=_number("DM_ALERT_MAX_REGISTRATION_P95_MS", 1000.0, 0.0),
        webhook_url=validate_webhook_url(url) if url else None,
        webhook_timeout_seconds=_number("DM_ALERT_WEBHOOK_TIMEOUT_SECONDS", 5.0, 0.1),
        webhook_retries=_whole("DM_ALERT_WEBHOOK_RETRIES", 3, 0),
        sensor_interval_seconds=_whole("DM_ALERT_SENSOR_INTERVAL_SECONDS", 120, 30),
    )
