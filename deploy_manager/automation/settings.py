"""Settings of the schedules and sensors, each read from one ``DM_*`` environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagster._utils.schedules import is_valid_cron_string


def _text(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _whole(name: str, default: int, minimum: int) -> int:
    raw = _text(name, str(default))
    if not raw.isdigit() or int(raw) < minimum:
        raise ValueError(f"{name}={raw!r} is invalid: use a whole number >= {minimum}")
    return int(raw)


def _cron(name: str, default: str) -> str:
    raw = _text(name, default)
    if not is_valid_cron_string(raw):
        raise ValueError(
            f"{name}={raw!r} is not a cron expression: use five fields, for example {default!r}"
        )
    return raw


@dataclass(frozen=True)
class AutomationSettings:
    """When the schedules fire and how often the sensors look (see README, "Operations")."""

    daily_cron: str
    freshness_cron: str
    landing_interval_seconds: int
    landing_settle_seconds: int
    landing_retry_seconds: int
    sites_interval_seconds: int


def load_automation_settings() -> AutomationSettings:
    """Read the automation settings from the environment."""
    return AutomationSettings(
        daily_cron=_cron("DM_DAILY_SCHEDULE_CRON", "30 1 * * *"),
        freshness_cron=_cron("DM_FRESHNESS_SCHEDULE_CRON", "15 * * * *"),
        landing_interval_seconds=_whole("DM_LANDING_SENSOR_INTERVAL_SECONDS", 60, 5),
        landing_settle_seconds=_whole("DM_LANDING_SETTLE_SECONDS", 60, 0),
        landing_retry_seconds=_whole("DM_LANDING_RETRY_SECONDS", 300, 0),
        sites_interval_seconds=_whole("DM_SITES_SENSOR_INTERVAL_SECONDS", 60, 5),
    )
