"""Helpers for tests that need mart files or checks without Spark: ORC partitions written with
pyarrow in the layout Spark's Hive catalog uses, and a job that runs checks alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
from dagster import (
    AssetCheckKey,
    AssetChecksDefinition,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    define_asset_job,
    in_process_executor,
)

from deploy_manager.checks.partitioned import PartitionCheck, build_asset_checks
from deploy_manager.partitions import date_site_partitions
from deploy_manager.pipeline import range_tags
from deploy_manager.resources.database import RawDatabase
from deploy_manager.resources.warehouse_files import WarehouseFiles

NO_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/no_raw_database"


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
    checks: Sequence[PartitionCheck | AssetChecksDefinition],
    warehouse: Path,
    database_url: str | None = None,
    only: Sequence[AssetCheckKey] = (),
) -> Definitions:
    """Definitions with the checked assets as external (date, site) assets and a job
    ``checks_only`` that runs ``checks`` alone, one step per asset for the PartitionChecks.
    With ``only``, the job runs just those checks of the definitions."""
    built = [c for c in checks if isinstance(c, AssetChecksDefinition)]
    checks = [*build_asset_checks([c for c in checks if isinstance(c, PartitionCheck)]), *built]
    keys = {key.asset_key for check in checks for key in check.check_keys}
    # A mart's step needs raw_db when any of its checks does, also when ``only`` selects
    # checks that never connect. Without database_url, nothing listens at the address given.
    resources: dict[str, object] = {
        "warehouse": WarehouseFiles(warehouse_dir=str(warehouse)),
        "raw_db": RawDatabase(url=database_url or NO_DATABASE_URL),
    }
    return Definitions(
        assets=[AssetSpec(key, partitions_def=date_site_partitions) for key in keys],
        asset_checks=list(checks),
        jobs=[define_asset_job("checks_only", selection=AssetSelection.checks(*(only or checks)))],
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
