"""The landing ingest as a Dagster asset: files in, raw rows out, sites registered."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, multi_asset

from deploy_manager.netops.devices.load import ingest_device_landing
from deploy_manager.netops.load import ingest_landing
from deploy_manager.partitions import site_partitions
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
    """Ingest every new landing file into PostgreSQL and register the inventory's sites as
    site partitions."""
    with raw_db.connect() as conn:
        summary = ingest_landing(conn, Path(platform.landing_dir))
        # After the Ansible runs, because a device's drift is expected when a run touched it.
        devices = ingest_device_landing(conn, Path(platform.landing_dir))
        conn.commit()
        quarantine_rows = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
        inventory_rows = conn.execute("SELECT count(*) FROM raw.inventory").fetchone()[0]
    known = set(context.instance.get_dynamic_partitions(site_partitions.name))
    new_sites = sorted(summary.sites - known)
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
        },
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_KEY,
        metadata={
            "rows": quarantine_rows,
            "quarantined_this_run": summary.quarantined + devices.quarantined,
        },
    )
