"""Run the platform's jobs in this process: ingest the landing folder, then materialize a
rectangle of (date, site) partitions as one run (one Spark session)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from deploy_manager.partitions import partition_key, site_partitions
from deploy_manager.settings import load_settings

log = logging.getLogger(__name__)


class PartitionRangeError(ValueError):
    """A requested rectangle of partitions that Dagster cannot run as one range."""


# Dagster's console logger prints every event at DEBUG; INFO keeps the asset logs and errors.
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def ingest(defs: Definitions, instance: DagsterInstance) -> ExecuteInProcessResult:
    job = defs.resolve_job_def("ingest_landing")
    return job.execute_in_process(instance=instance, run_config=RUN_CONFIG)


def range_tags(
    instance: DagsterInstance, first: date, last: date, sites: Sequence[str] | None = None
) -> dict[str, str]:
    """Return the run tags of the rectangle first..last x sites (all registered sites if None).

    A run covers a contiguous range in each dimension; sites are ordered as they were
    registered, so ``sites`` must be a contiguous run of that order.
    """
    registered = instance.get_dynamic_partitions(site_partitions.name)
    if sites is not None and not sites:
        raise PartitionRangeError(
            "the site list is empty: name one or more registered sites after --sites "
            f"(registered: {', '.join(registered) or 'none'}), or leave out --sites to take "
            "every registered site"
        )
    chosen = list(registered) if sites is None else list(sites)
    unknown = [s for s in chosen if s not in registered]
    if unknown:
        raise PartitionRangeError(
            f"sites {unknown} are not registered: ingest an inventory that names them first"
        )
    if not chosen:
        raise PartitionRangeError("no sites are registered: ingest an inventory snapshot first")
    positions = sorted(registered.index(s) for s in chosen)
    if positions != list(range(positions[0], positions[0] + len(positions))):
        raise PartitionRangeError(
            f"sites {chosen} are not contiguous in registration order {registered}: "
            "run them as separate ranges"
        )
    if last < first:
        raise PartitionRangeError(f"last date {last} is before first date {first}")
    start = load_settings().partitions_start_date
    if first < start:
        raise PartitionRangeError(
            f"first date {first} is before the first date partition {start}: "
            "set DM_PARTITIONS_START_DATE to an earlier date"
        )
    first_site, last_site = registered[positions[0]], registered[positions[-1]]
    return {
        ASSET_PARTITION_RANGE_START_TAG: str(partition_key(first, first_site)),
        ASSET_PARTITION_RANGE_END_TAG: str(partition_key(last, last_site)),
    }


def materialize_rectangle(
    defs: Definitions,
    instance: DagsterInstance,
    first: date,
    last: date,
    sites: Sequence[str] | None = None,
) -> ExecuteInProcessResult:
    """Materialize every partitioned asset for first..last x sites in one run."""
    tags = range_tags(instance, first, last, sites)
    log.info(
        "materializing %s to %s",
        tags[ASSET_PARTITION_RANGE_START_TAG],
        tags[ASSET_PARTITION_RANGE_END_TAG],
    )
    job = defs.resolve_job_def("materialize_partitions")
    return job.execute_in_process(instance=instance, tags=tags, run_config=RUN_CONFIG)
