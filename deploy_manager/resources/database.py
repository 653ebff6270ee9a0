"""The raw-layer PostgreSQL database as a Dagster resource."""

from __future__ import annotations

import psycopg
from dagster import ConfigurableResource

from deploy_manager.db.connection import connect, ensure_database
from deploy_manager.db.migrate import apply_migrations
from deploy_manager.settings import Settings


class RawDatabase(ConfigurableResource):
    """Connections to the raw layer; the schema is migrated on first use in a process."""

    url: str

    def connect(self) -> psycopg.Connection:
        ensure_database(self.url)
        conn = connect(self.url)
        apply_migrations(conn)
        conn.commit()
        return conn


class PlatformSettings(ConfigurableResource):
    """The settings the assets read at run time (see deploy_manager.settings)."""

    landing_dir: str
    jdbc_url: str
    healthy_success_rate: float
    critical_success_rate: float

    @classmethod
    def from_settings(cls, settings: Settings) -> PlatformSettings:
        return cls(
            landing_dir=str(settings.landing_dir),
            jdbc_url=settings.jdbc_url,
            healthy_success_rate=settings.healthy_success_rate,
            critical_success_rate=settings.critical_success_rate,
        )
