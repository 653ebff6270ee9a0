"""The operating side of the code location: asset checks, freshness policies, the alert
sensor, the schedules and the automation sensors."""

import warnings

from dagster import AssetSpec, Definitions, PreviewWarning

from deploy_manager.alerts.sensors import build_alert_sensor
from deploy_manager.alerts.settings import load_alert_settings
from deploy_manager.automation.schedules import build_daily_schedule, build_freshness_schedule
from deploy_manager.automation.sensors import build_landing_sensor, build_site_sensor
from deploy_manager.automation.settings import load_automation_settings
from deploy_manager.checks.catalog import FRESHNESS_CHECKS, MART_CHECKS
from deploy_manager.checks.freshness import with_daily_freshness_policy
from deploy_manager.resources.warehouse_files import WarehouseFiles
from deploy_manager.settings import Settings

# The daily aggregates: every asset of the kpi group.
DAILY_AGGREGATES_GROUP = "kpi"


def operations_definitions(settings: Settings) -> Definitions:
    """Return the checks, schedules, sensors and the resource they add for ``settings``."""
    automation = load_automation_settings()
    return Definitions(
        asset_checks=[*MART_CHECKS, *FRESHNESS_CHECKS],
        schedules=[
            build_daily_schedule(automation),
            build_freshness_schedule(automation, FRESHNESS_CHECKS),
        ],
        sensors=[
            build_site_sensor(automation),
            build_landing_sensor(automation),
            build_alert_sensor(load_alert_settings()),
        ],
        resources={"warehouse": WarehouseFiles(warehouse_dir=settings.warehouse_dir)},
    )


def with_operations(platform: Definitions, settings: Settings) -> Definitions:
    """Merge the operating definitions into ``platform`` and give the daily aggregates their
    freshness policy."""
    merged = Definitions.merge(platform, operations_definitions(settings))
    # map_asset_specs is a preview API in Dagster 1.13; it is how a policy reaches assets
    # defined elsewhere without editing them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return merged.map_asset_specs(func=_daily_aggregate_policy)


def _daily_aggregate_policy(spec: AssetSpec) -> AssetSpec:
    return with_daily_freshness_policy(spec) if spec.group_name == DAILY_AGGREGATES_GROUP else spec
