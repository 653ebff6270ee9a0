"""Settings of the 5G core marts, each read from one environment variable with a default.

- ``DM_REG_HEALTHY_RATE`` (98): registration success rate (%) at or above which an AMF's day
  is healthy, provided its p95 latency is within ``DM_REG_MAX_P95_MS``.
- ``DM_REG_CRITICAL_RATE`` (90): registration success rate (%) below which it is critical.
- ``DM_REG_MAX_P95_MS`` (1000): p95 registration latency (ms) above which a healthy success
  rate is reported as degraded.
- ``DM_NF_SCRAPE_INTERVAL_SECONDS`` (3600): interval at which every NF is scraped, which sets
  the scrapes expected per day for availability.
"""

from __future__ import annotations

import os

from dagster import ConfigurableResource

SECONDS_PER_DAY = 86_400


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number: set it to a decimal value") from exc


class Core5gSettings(ConfigurableResource):
    """Thresholds of the registration status and the expected scrape interval of the NFs."""

    reg_healthy_rate: float = 98.0
    reg_critical_rate: float = 90.0
    reg_max_p95_ms: float = 1000.0
    scrape_interval_seconds: float = 3600.0

    @classmethod
    def from_env(cls) -> Core5gSettings:
        """Read the ``DM_REG_*`` and ``DM_NF_SCRAPE_INTERVAL_SECONDS`` variables.

        Raises ValueError when a value is not a number, when the critical rate is above the
        healthy rate, or when the scrape interval is not between 1 s and one day.
        """
        settings = cls(
            reg_healthy_rate=_env_number("DM_REG_HEALTHY_RATE", 98.0),
            reg_critical_rate=_env_number("DM_REG_CRITICAL_RATE", 90.0),
            reg_max_p95_ms=_env_number("DM_REG_MAX_P95_MS", 1000.0),
            scrape_interval_seconds=_env_number("DM_NF_SCRAPE_INTERVAL_SECONDS", 3600.0),
        )
        if settings.reg_critical_rate > settings.reg_healthy_rate:
            raise ValueError(
                f"DM_REG_CRITICAL_RATE={settings.reg_critical_rate} is above "
                f"DM_REG_HEALTHY_RATE={settings.reg_healthy_rate}: set the critical rate at or "
                "below the healthy rate"
            )
        if not 1 <= settings.scrape_interval_seconds <= SECONDS_PER_DAY:
            raise ValueError(
                f"DM_NF_SCRAPE_INTERVAL_SECONDS={settings.scrape_interval_seconds} is invalid: "
                f"use 1 to {SECONDS_PER_DAY} seconds"
            )
        return settings

    @property
    def expected_scrapes_per_day(self) -> float:
        return SECONDS_PER_DAY / self.scrape_interval_seconds
