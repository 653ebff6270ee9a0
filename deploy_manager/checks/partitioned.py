"""Asset checks evaluated once per (date, site) partition, also inside a single-run backfill.

The checks of one asset run in one step. Each check yields one ``AssetCheckEvaluation`` per
partition key of its run, then the check's output, so Dagster records a result per
(date, site) also in a run over a range of keys, which is how every backfill here runs. A
failed ERROR-severity evaluation of a blocking check fails the step, so the assets
downstream of the checked asset are not materialized in that run. The platform's instance
storage writes the results of one step in a batch (``batched_check_results`` in
deploy_manager.instance_storage).

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
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    Output,
    PartitionKeyRange,
    multi_asset_check,
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


@dataclass(frozen=True)
class PartitionCheck:
    """One per-(date, site) check of a mart: what it checks, how severe a failure is, and the
    function that evaluates it. ``build_asset_checks`` turns checks into Dagster definitions."""

    asset_key: AssetKey
    name: str
    description: str
    severity: CheckSeverity
    evaluate: Evaluator
    required_resource_keys: frozenset[str]

    @property
    def spec(self) -> AssetCheckSpec:
        return AssetCheckSpec(
            self.name,
            asset=self.asset_key,
            description=f"{self.description} Severity {self.severity.level.value}: "
            f"{self.severity.reason}",
            blocking=self.severity.blocking,
            metadata={
                "severity": self.severity.level.value,
                "severity_reason": self.severity.reason,
            },
        )


class CheckEvaluationError(Exception):
    """Raised after the other checks of a step have recorded their results, when some of the
    step's checks could not be evaluated."""


def build_asset_checks(checks: Sequence[PartitionCheck]) -> list[AssetChecksDefinition]:
    """Build one Dagster step per checked asset that evaluates all of that asset's blocking
    checks, and one more for its non-blocking checks if it has any.

    Give all checks of an asset in one call: a second call would build a step of the same
    name. Each check keeps its own key and result. A check that raises does not stop the
    others of its step: they record their results, then the step fails with the error of
    each check that raised. Non-blocking checks have their own step, so that one of them
    that raises does not keep the downstream assets from being materialized.
    """
    by_step: dict[tuple[AssetKey, bool], list[PartitionCheck]] = {}
    names_by_asset: dict[AssetKey, list[str]] = {}
    for check in checks:
        by_step.setdefault((check.asset_key, check.severity.blocking), []).append(check)
        names_by_asset.setdefault(check.asset_key, []).append(check.name)
    for key, names in names_by_asset.items():
        if len(set(names)) < len(names):
            raise ValueError(
                f"checks {names} on {key.to_user_string()} repeat a name: give each check of "
                "an asset its own name"
            )
    return [
        _asset_checks(key, group, "checks" if blocking else "nonblocking_checks")
        for (key, blocking), group in by_step.items()
    ]


def _asset_checks(
    key: AssetKey, checks: Sequence[PartitionCheck], suffix: str
) -> AssetChecksDefinition:
    @multi_asset_check(
        specs=[check.spec for check in checks],
        name=f"{'__'.join(key.path)}_{suffix}",
        description=f"The per-(date, site) checks of {key.to_user_string()}.",
        can_subset=True,
        required_resource_keys=set().union(*(c.required_resource_keys for c in checks)),
    )
    def _checks(context: AssetCheckExecutionContext):
        keys = run_partition_keys(context.run.tags, context.instance)
        if not keys:
            raise ValueError(
                f"the checks of {key.to_user_string()} run per (date, site) partition: "
                "launch them with a partition key or a partition range"
            )
        scope = PartitionScope(keys)
        targets = latest_materializations(context.instance, key, scope.keys)
        selected = context.selected_asset_check_keys
        errors = []
        with batched_check_results(context.instance):
            for check in checks:
                spec = check.spec
                if spec.key not in selected:
                    continue
                try:
                    outcomes = check.evaluate(context, scope)
                    evaluations = _evaluations(context, check, scope, outcomes, targets)
                except Exception as exc:  # the step fails with it below
                    context.log.exception("check %s on %s raised", check.name, key.to_user_string())
                    # A KeyError's str() quotes its message; the message alone reads better.
                    text = exc.args[0] if len(exc.args) == 1 else exc
                    # One line per check, so that each check's alert can quote its own error.
                    line = f"check {check.name}: {type(exc).__name__}: {text}"
                    errors.append(" ".join(line.split()))
                    continue
                yield from evaluations
                yield Output(None, output_name=spec.get_python_identifier())
        if errors:
            raise CheckEvaluationError(
                f"{len(errors)} check(s) on {key.to_user_string()} could not be evaluated, so "
                "their partitions have no result:\n" + "\n".join(errors)
            )

    return _checks


def _evaluations(
    context: AssetCheckExecutionContext,
    check: PartitionCheck,
    scope: PartitionScope,
    outcomes: Mapping[str, PartitionOutcome],
    targets: Mapping[str, AssetCheckEvaluationTargetMaterializationData],
) -> list[AssetCheckEvaluation]:
    """Return the check's result for each partition of ``scope``, and log how many failed."""
    failed = [k for k in scope.keys if not outcomes[k].passed]
    context.log.info(
        "check %s on %s: %d partitions, %d failed%s",
        check.name,
        check.asset_key.to_user_string(),
        len(scope.keys),
        len(failed),
        f" ({', '.join(failed[:10])}{', ...' if len(failed) > 10 else ''})" if failed else "",
    )
    evaluations = []
    for partition in scope.keys:
        outcome = outcomes[partition]
        evaluation = AssetCheckEvaluation(
            asset_key=check.asset_key,
            check_name=check.name,
            passed=outcome.passed,
            metadata=dict(outcome.metadata),
            target_materialization_data=targets.get(partition),
            severity=check.severity.level,
            description=outcome.description,
            blocking=check.severity.blocking,
            partition=partition,
        )
        evaluations.append(evaluation)
    return evaluations
