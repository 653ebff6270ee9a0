"""The daily run of yesterday for every site, and the hourly per-site freshness check."""

from datetime import UTC, datetime, timedelta

from dagster import (
    AssetChecksDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from deploy_manager.automation.settings import AutomationSettings
from deploy_manager.pipeline import PartitionRangeError, range_tags

DAILY_SCHEDULE_NAME = "daily_partitions"
PARTITIONS_JOB_NAME = "materialize_partitions"
FRESHNESS_JOB_NAME = "check_site_freshness"


def build_daily_schedule(settings: AutomationSettings) -> ScheduleDefinition:
    """Build the schedule that materializes yesterday (UTC) x every registered site as one run.

    The run carries the partition range tags of that rectangle, so it is one process and one
    Spark session however many sites there are.
    """

    @schedule(
        name=DAILY_SCHEDULE_NAME,
        job_name=PARTITIONS_JOB_NAME,
        cron_schedule=settings.daily_cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Materialize yesterday (UTC) for every registered site in one run.",
    )
    def daily_partitions(context: ScheduleEvaluationContext):
        scheduled = context.scheduled_execution_time or datetime.now(UTC)
        day = scheduled.astimezone(UTC).date() - timedelta(days=1)
        try:
            tags = range_tags(context.instance, day, day)
        except PartitionRangeError as exc:
            return SkipReason(f"nothing to materialize for {day}: {exc}")
        context.log.info("materializing %s for every registered site", day)
        return RunRequest(run_key=f"daily-{day.isoformat()}", tags=tags)

    return daily_partitions


def build_freshness_schedule(
    settings: AutomationSettings, freshness_checks: list[AssetChecksDefinition]
) -> ScheduleDefinition:
    """Build the schedule that evaluates the per-site freshness checks."""
    job = define_asset_job(
        FRESHNESS_JOB_NAME,
        selection=AssetSelection.checks(*freshness_checks),
        description="Evaluate the per-site freshness checks of the daily aggregates.",
    )
    return ScheduleDefinition(
        name="hourly_site_freshness",
        job=job,
        cron_schedule=settings.freshness_cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Flag the sites whose newest materialized date is too old.",
    )
