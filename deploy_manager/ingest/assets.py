"""The landing ingest as a Dagster asset: files in, raw rows out, sites registered."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetSpec, Failure, MaterializeResult, multi_asset

from deploy_manager.core5g.landing import ingest_core5g_landing
from deploy_manager.core5g.sources.config import SourceConfigError
from deploy_manager.ingest.pseudonymise import PseudonymKeyError
from deploy_manager.netops.devices.load import ingest_device_landing
from deploy_manager.netops.load import ingest_landing
from deploy_manager.partitions import InvalidSiteIdError, site_partitions
from deploy_manager.resources.database import PlatformSettings, RawDatabase

INVENTORY_KEY = ["raw", "inventory"]
QUARANTINE_KEY = ["raw", "quarantine"]


@multi_asset(
    specs=[
        AssetSpec(
            INVENTORY_KEY,
            group_name="raw",
            description="Host-to-site assignments, one row per host and inventory snapshot.",
        ),
        AssetSpec(
            QUARANTINE_KEY,
            group_name="raw",
            description="Input that could not be parsed or placed: one row per rejected file, "
            "line or host, with the reason and the original content.",
        ),
    ],
)
def landing_ingest(context: AssetExecutionContext, raw_db: RawDatabase, platform: PlatformSettings):
    """Ingest every new landing file into PostgreSQL and register the sites of the inventory
    and of the 5G core sources configuration as site partitions."""
    with raw_db.connect() as conn:
        summary = ingest_landing(conn, Path(platform.landing_dir))
        # After the Ansible runs, because a device's drift is expected when a run touched it.
        devices = ingest_device_landing(conn, Path(platform.landing_dir))
        conn.commit()
        try:
            core5g = ingest_core5g_landing(conn, Path(platform.landing_dir))
        except (PseudonymKeyError, SourceConfigError, InvalidSiteIdError) as exc:
            raise Failure(description=f"the 5G core landing was not ingested: {exc}") from exc
        conn.commit()
        quarantine_rows = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
        inventory_rows = conn.execute("SELECT count(*) FROM raw.inventory").fetchone()[0]
    known = set(context.instance.get_dynamic_partitions(site_partitions.name))
    core5g_sites = core5g.sites if core5g else set()
    new_sites = sorted((summary.sites | core5g_sites) - known)
    if new_sites:
        context.instance.add_dynamic_partitions(site_partitions.name, new_sites)
    context.log.info(
        "ingested %d runs from %d sources (%d unchanged); %d new sites registered: %s",
        summary.runs,
        summary.files_read,
        summary.files_skipped,
        len(new_sites),
        new_sites,
    )
    drift_rows = devices.backups.drift.rows_written if devices.backups else 0
    context.log.info(
        "ingested %d device samples from %d metrics files (%d unchanged), %d config backups, "
        "%d config drift rows written",
        devices.metrics.rows_inserted,
        devices.metrics.files,
        devices.metrics_files_skipped,
        devices.backups.rows_inserted if devices.backups else 0,
        drift_rows,
    )
    if core5g:
        context.log.info(
            "ingested %d 5G core files (%d unchanged, %d failed, %d unmatched): rows %s",
            core5g.summary.files_ingested,
            core5g.summary.files_unchanged,
            len(core5g.summary.failed_files),
            len(core5g.summary.unmatched_files),
            core5g.summary.rows,
        )
    yield MaterializeResult(
        asset_key=INVENTORY_KEY,
        metadata={
            "rows": inventory_rows,
            "sites": len(summary.sites),
            "new_sites": new_sites,
            "device_samples_inserted": devices.metrics.rows_inserted,
            "device_metrics_files_skipped": devices.metrics_files_skipped,
            "config_backups_inserted": devices.backups.rows_inserted if devices.backups else 0,
            "config_drift_rows_written": drift_rows,
            "core5g_files_ingested": core5g.summary.files_ingested if core5g else 0,
        },
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_KEY,
        metadata={
            "rows": quarantine_rows,
            "quarantined_this_run": summary.quarantined
            + devices.quarantined
            + (core5g.summary.quarantined if core5g else 0),
        },
    )
