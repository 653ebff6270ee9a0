"""Sensors that register new sites as partitions and ingest new landing files."""

import time
from pathlib import Path

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from deploy_manager.automation.landing import pending_run_key, pending_sources
from deploy_manager.automation.settings import AutomationSettings
from deploy_manager.partitions import InvalidSiteIdError, site_partitions, validate_site_id
from deploy_manager.resources.database import PlatformSettings, RawDatabase

INGEST_JOB_NAME = "ingest_landing"
PENDING_KEY_TAG = "deploy_manager/pending_key"


def new_inventory_sites(raw_db: RawDatabase, registered: list[str]) -> tuple[list[str], list[str]]:
    """Return the valid sites of raw.inventory not yet registered, and the invalid site ids."""
    with raw_db.connect() as conn:
        sites = [r[0] for r in conn.execute("SELECT DISTINCT site_id FROM raw.inventory")]
    new, invalid = [], []
    for site in sorted(sites):
        try:
            validate_site_id(site)
        except InvalidSiteIdError:
            invalid.append(site)
            continue
        if site not in registered:
            new.append(site)
    return new, invalid


def build_site_sensor(settings: AutomationSettings) -> SensorDefinition:
    """Build the sensor that adds each site of raw.inventory to the ``site`` partitions.

    New sites are added in name order, after the sites already registered, because a
    single run covers sites that are contiguous in registration order.
    """

    @sensor(
        name="register_sites",
        minimum_interval_seconds=settings.sites_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Register the sites of ingested inventories as site partitions.",
    )
    def register_sites(context: SensorEvaluationContext, raw_db: RawDatabase):
        registered = list(context.instance.get_dynamic_partitions(site_partitions.name))
        new, invalid = new_inventory_sites(raw_db, registered)
        if invalid:
            context.log.warning(
                "raw.inventory has %d invalid site ids, not registered: %s", len(invalid), invalid
            )
        if not new:
            return SkipReason(f"no new sites ({len(registered)} registered)")
        context.log.info("registering %d new sites: %s", len(new), new)
        return SensorResult(dynamic_partitions_requests=[site_partitions.build_add_request(new)])

    return register_sites


def landing_run_key(
    instance: DagsterInstance, pending_key: str, retry_seconds: float, now: float
) -> tuple[str | None, str]:
    """Return the run key for the pending sources of ``pending_key``, or None while a failed
    run's retry waits, with a reason to log.

    Dagster never reuses a run key, so each failed or canceled run of the same pending sources
    moves the key on by one attempt, ``retry_seconds`` after that run ended. A queued, running
    or successful run keeps the key, so it is not launched twice.
    """
    failed = instance.get_run_records(
        filters=RunsFilter(
            tags={PENDING_KEY_TAG: pending_key},
            statuses=[DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED],
        )
    )
    if not failed:
        return pending_key, "first attempt"
    last = max(failed, key=lambda record: record.end_time or record.create_timestamp.timestamp())
    ended = last.end_time or last.create_timestamp.timestamp()
    wait = ended + retry_seconds - now
    if wait > 0:
        return None, (
            f"ingest run {last.dagster_run.run_id} of the same sources failed; retrying in "
            f"{wait:.0f} s (DM_LANDING_RETRY_SECONDS={retry_seconds:.0f})"
        )
    return f"{pending_key}-retry{len(failed)}", (
        f"retry {len(failed)} after the failed ingest run {last.dagster_run.run_id}"
    )


def build_landing_sensor(settings: AutomationSettings) -> SensorDefinition:
    """Build the sensor that launches the ingest job when landing sources are new or changed.

    The run key is a hash of the pending sources and their fingerprints, so the same pending
    set starts one run only, even while that run is queued or when an ingest leaves a file
    unrecorded. A failed run of the same set is retried (see ``landing_run_key``).
    """

    @sensor(
        name="landing_files",
        job_name=INGEST_JOB_NAME,
        minimum_interval_seconds=settings.landing_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Launch ingest_landing when the landing folder has new or changed sources.",
    )
    def landing_files(
        context: SensorEvaluationContext, raw_db: RawDatabase, platform: PlatformSettings
    ):
        landing = Path(platform.landing_dir)
        with raw_db.connect() as conn:
            pending = pending_sources(conn, landing, settings.landing_settle_seconds)
        if not pending:
            return SkipReason(f"no new or changed sources in {landing}")
        pending_key = pending_run_key(pending)
        run_key, reason = landing_run_key(
            context.instance, pending_key, settings.landing_retry_seconds, time.time()
        )
        if run_key is None:
            return SkipReason(reason)
        shown = ", ".join(s.source_path for s in pending[:5])
        context.log.info("%d landing sources pending (%s): %s", len(pending), reason, shown)
        return RunRequest(
            run_key=run_key,
            tags={
                "deploy_manager/pending_sources": str(len(pending)),
                PENDING_KEY_TAG: pending_key,
            },
        )

    return landing_files
