"""Asset checks evaluated once per (date, site) partition, also inside a single-run backfill.

Each check yields one ``AssetCheckEvaluation`` per partition key of its run, then the check's
output, so Dagster records a result per (date, site) also in a run over a range of keys,
which is how every backfill here runs. A failed ERROR-severity evaluation of a blocking check
fails the check's step, so the assets downstream of the checked asset are not materialized
in that run. The platform's instance storage writes the results of one step in a batch
(``batched_check_results`` in deploy_manager.instance_storage).

The checks are declared without a partitions definition and read the run's keys from its
partition tags. Declared with one, Dagster 1.13.27 writes one planned row per check and
partition at run set-up, each containing the run's whole partition subset: set-up then grows
with the square of the partitions of a run (about 7 GB of rows at 3,000 partitions). Without
one, each check has one planned row per run, and its results still carry their partition.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    Output,
    PartitionKeyRange,
    asset_check,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluation,
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from deploy_manager.instance_storage import batched_check_results
from deploy_manager.partitions import date_site_partitions, validate_site_id


@dataclass(frozen=True)
class PartitionScope:
    """The (date, site) partitions a check run covers, as keys and as sorted dates and sites."""

    keys: tuple[str, ...]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [tuple(key.split("|", 1)) for key in self.keys]  # type: ignore[misc]

    @property
    def dates(self) -> list[date]:
        return sorted({date.fromisoformat(day) for day, _ in self.pairs})

    @property
    def sites(self) -> list[str]:
        return sorted({validate_site_id(site) for _, site in self.pairs})


@dataclass(frozen=True)
class PartitionOutcome:
    """Whether one partition passed, with the figures that show why."""

    passed: bool
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


# Takes the check's context and the partitions of the run, returns an outcome for each key.
Evaluator = Callable[[AssetCheckExecutionContext, PartitionScope], Mapping[str, PartitionOutcome]]


@dataclass(frozen=True)
class CheckSeverity:
    """The severity of a check's failures, the reason for it, and whether it blocks."""

    level: AssetCheckSeverity
    reason: str

    @property
    def blocking(self) -> bool:
        return self.level == AssetCheckSeverity.ERROR


def run_partition_keys(tags: Mapping[str, str], instance: DagsterInstance) -> tuple[str, ...]:
    """Return the (date, site) keys a run targets, from its partition tags: one key, or the
    rectangle of a range run. Empty when the run targets no partition."""
    if tags.get(PARTITION_NAME_TAG):
        return (tags[PARTITION_NAME_TAG],)
    start = tags.get(ASSET_PARTITION_RANGE_START_TAG)
    end = tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if not (start and end):
        return ()
    keys = date_site_partitions.get_partition_keys_in_range(
        PartitionKeyRange(start, end), dynamic_partitions_store=instance
    )
    return tuple(str(key) for key in keys)


def latest_materializations(
    instance: DagsterInstance, asset_key: AssetKey, keys: Sequence[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """Return the latest materialization of each partition key, as a check's target."""
    # Newest first: when the run just materialized every key, they are the first records.
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=list(keys)),
        limit=max(len(keys) * 2, 10),
    ).records
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:
        partition = record.partition_key
        if partition is not None and partition not in latest:
            latest[partition] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id,
                run_id=record.run_id,
                timestamp=record.timestamp,
            )
    return latest


def build_partition_check(
    asset_key: AssetKey | Sequence[str],
    name: str,
    description: str,
    severity: CheckSeverity,
    evaluate: Evaluator,
    required_resource_keys: set[str],
) -> AssetChecksDefinition:
    """Build a check on ``asset_key`` that runs ``evaluate`` over the partitions of its run."""
    key = AssetKey.from_coercible(asset_key)

    @asset_check(
        asset=key,
        name=name,
        description=f"{description} Severity {severity.level.value}: {severity.reason}",
        blocking=severity.blocking,
        required_resource_keys=required_resource_keys,
        metadata={"severity": severity.level.value, "severity_reason": severity.reason},
    )
    def _check(context: AssetCheckExecutionContext):
        keys = run_partition_keys(context.run.tags, context.instance)
        if not keys:
            raise ValueError(
                f"check {name!r} on {key.to_user_string()} runs per (date, site) partition: "
                "launch it with a partition key or a partition range"
            )
        scope = PartitionScope(keys)
        outcomes = evaluate(context, scope)
        targets = latest_materializations(context.instance, key, scope.keys)
        failed = [k for k in scope.keys if not outcomes[k].passed]
        context.log.info(
            "check %s on %s: %d partitions, %d failed%s",
            name,
            key.to_user_string(),
            len(scope.keys),
            len(failed),
            f" ({', '.join(failed[:10])}{', ...' if len(failed) > 10 else ''})" if failed else "",
        )
        with batched_check_results(context.instance):
            for partition in scope.keys:
                outcome = outcomes[partition]
                yield AssetCheckEvaluation(
                    asset_key=key,
                    check_name=name,
                    passed=outcome.passed,
                    metadata=dict(outcome.metadata),
                    target_materialization_data=targets.get(partition),
                    severity=severity.level,
                    description=outcome.description,
                    blocking=severity.blocking,
                    partition=partition,
                )
        yield Output(None)

    return _check
