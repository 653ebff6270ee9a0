"""The ``deploy_manager`` code location: every asset, resource and job of the platform."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from deploy_manager.core5g.assets import CORE5G_ASSETS
from deploy_manager.core5g.settings import Core5gSettings
from deploy_manager.ingest.assets import landing_ingest
from deploy_manager.kpi.assets import site_health_daily
from deploy_manager.netops.assets import (
    ansible_deployment_metrics,
    ansible_raw_tables,
    deployment_failure_analysis,
)
from deploy_manager.netops.devices.assets import config_drift, device_health, device_raw_tables
from deploy_manager.operations import with_operations
from deploy_manager.resources.database import PlatformSettings, RawDatabase
from deploy_manager.resources.spark import pyspark_resource
from deploy_manager.settings import Settings, load_settings

PARTITIONED_ASSETS = [
    ansible_raw_tables,
    ansible_deployment_metrics,
    deployment_failure_analysis,
    device_raw_tables,
    device_health,
    config_drift,
    *CORE5G_ASSETS,
    site_health_daily,
]

ingest_job = define_asset_job(
    "ingest_landing",
    selection=AssetSelection.assets(landing_ingest),
    description="Ingest new landing files and register their sites.",
)
partitions_job = define_asset_job(
    "materialize_partitions",
    selection=AssetSelection.assets(*PARTITIONED_ASSETS),
    description="Raw tables, marts and KPIs for a rectangle of (date, site) partitions.",
)


def build_definitions(settings: Settings) -> Definitions:
    """Assemble the code location for ``settings``; tests pass their own."""
    platform = Definitions(
        assets=[landing_ingest, *PARTITIONED_ASSETS],
        jobs=[ingest_job, partitions_job],
        resources={
            "platform": PlatformSettings.from_settings(settings),
            "raw_db": RawDatabase(url=settings.postgres_url),
            "pyspark": pyspark_resource(settings),
            "core5g": Core5gSettings.from_env(),
        },
        # One process per run: one Spark session, and the embedded Derby metastore admits one
        # JVM at a time.
        executor=in_process_executor,
    )
    return with_operations(platform, settings)


defs = build_definitions(load_settings())
