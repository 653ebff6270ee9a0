"""Helpers for tests that need mart files or checks without Spark: ORC partitions written with
pyarrow in the layout Spark's Hive catalog uses, and a job that runs checks alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
from dagster import (
    AssetChecksDefinition,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    define_asset_job,
    in_process_executor,
)

from deploy_manager.partitions import date_site_partitions
from deploy_manager.pipeline import range_tags
from deploy_manager.resources.database import RawDatabase
from deploy_manager.resources.warehouse_files import WarehouseFiles


def write_partition(warehouse: Path, table: str, day: str, site: str, columns: dict) -> Path:
    """Replace the ORC file of partition (day, site) of ``database.table`` with ``columns``."""
    database, name = table.split(".")
    folder = warehouse / f"{database}.db" / name / f"date={day}" / f"site_id={site}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.orc"):
        old.unlink()
    path = folder / "part-00000.orc"
    orc.write_table(pa.table(columns), str(path))
    return path


def check_definitions(
    checks: Sequence[AssetChecksDefinition], warehouse: Path, database_url: str | None = None
) -> Definitions:
    """Definitions with the checked assets as external (date, site) assets and a job
    ``checks_only`` that runs ``checks`` alone."""
    keys = {key.asset_key for check in checks for key in check.check_keys}
    resources: dict[str, object] = {"warehouse": WarehouseFiles(warehouse_dir=str(warehouse))}
    if database_url:
        resources["raw_db"] = RawDatabase(url=database_url)
    return Definitions(
        assets=[AssetSpec(key, partitions_def=date_site_partitions) for key in keys],
        asset_checks=list(checks),
        jobs=[define_asset_job("checks_only", selection=AssetSelection.checks(*checks))],
        resources=resources,
        executor=in_process_executor,
    )


def run_checks(
    defs: Definitions, instance: DagsterInstance, first: date, last: date
) -> ExecuteInProcessResult:
    """Run the job ``checks_only`` (or the checks of ``defs``) over first..last x every site."""
    job = defs.resolve_job_def("checks_only")
    return job.execute_in_process(
        instance=instance, tags=range_tags(instance, first, last), raise_on_error=False
    )


def evaluations(result: ExecuteInProcessResult) -> dict[tuple[str, str, str | None], object]:
    """Return the check evaluations of a run by (asset, check name, partition)."""
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            found[(data.asset_key.to_user_string(), data.check_name, data.partition)] = data
    return found
