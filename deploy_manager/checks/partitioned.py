"""Asset checks evaluated once per (date, site) partition, also inside a single-run backfill.

Dagster (1.13) records a check result against a partition only when the run targets one
partition key. A run over a range of keys, which is how every backfill here runs, would get
one result for the whole range. These checks therefore yield one ``AssetCheckEvaluation``
per partition key of the run themselves, then the check's output. A failed ERROR-severity
evaluation of a blocking check fails the check's step, so the assets downstream of the
checked asset are not materialized in that run.
"""

import warnings
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
    PreviewWarning,
    asset_check,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluation,
    AssetCheckEvaluationTargetMaterializationData,
)

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
    # Dagster 1.13 marks partitions_def on asset checks as a preview; it is the only way to
    # record results per (date, site) partition.
    # NOTE: with partitions_def, Dagster 1.13.27 writes one planned row per check and
    # partition at run set-up. Each row contains the run's whole partition subset, so set-up
    # grows with the square of the partitions of a run (about 7 GB at 3,000 partitions).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return _partition_check(key, name, description, severity, evaluate, required_resource_keys)


def _partition_check(
    key: AssetKey,
    name: str,
    description: str,
    severity: CheckSeverity,
    evaluate: Evaluator,
    required_resource_keys: set[str],
) -> AssetChecksDefinition:
    @asset_check(
        asset=key,
        name=name,
        description=f"{description} Severity {severity.level.value}: {severity.reason}",
        blocking=severity.blocking,
        partitions_def=date_site_partitions,
        required_resource_keys=required_resource_keys,
        metadata={"severity": severity.level.value, "severity_reason": severity.reason},
    )
    def _check(context: AssetCheckExecutionContext):
        if not (context.has_partition_key or context.has_partition_key_range):
            raise ValueError(
                f"check {name!r} on {key.to_user_string()} runs per (date, site) partition: "
                "launch it with a partition key or a partition range"
            )
        scope = PartitionScope(tuple(context.partition_keys))
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
