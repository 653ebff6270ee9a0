"""The conditions that the alert sensor turns into alerts.

- Failed asset checks, per check and partition, read incrementally from the instance, and
  checks that raised an error in a failed run.
- Late sites of the assets that have a per-site freshness check.
- KPI thresholds per site: the deployment success rate, and the 5G registration success
  rate and p95 latency once ``core5g.registration_kpis`` exists in the code location and in
  the warehouse.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow.compute as pc
from dagster import AssetCheckKey, AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._utils.error import SerializableErrorInfo

from deploy_manager.alerts.settings import AlertSettings
from deploy_manager.alerts.store import AlertCondition, alert_key
from deploy_manager.checks.freshness import FRESHNESS_CHECK_NAME, site_freshness
from deploy_manager.checks.partitioned import run_partition_keys
from deploy_manager.resources.warehouse_files import WarehouseFiles

log = logging.getLogger(__name__)

# Dates looked back over for the newest KPI row of each site.
THRESHOLD_LOOKBACK_DAYS = 7


# Characters of a step's error kept in the message of an errored-check alert.
MAX_ERROR_CHARS = 500


@dataclass
class CheckChanges:
    """Check results newer than the cursor: conditions to raise, alert keys to clear, the
    storage id to continue from, and the runs with checks still planned (not yet finished)."""

    raised: list[AlertCondition]
    cleared: list[str]
    cursor: int | None
    pending_runs: list[str] = field(default_factory=list)


def _partition_check_condition(
    check_key: AssetCheckKey, partition: str | None, severity: str, problem: str, details: dict
) -> AlertCondition:
    """Return the ``check`` condition of one (check, partition). ``problem`` ends the message."""
    day, _, site = (partition or "").partition("|")
    asset = check_key.asset_key.to_user_string()
    where = f" on {partition}" if partition else ""
    return AlertCondition(
        kind="check",
        severity=severity,
        asset_key=asset,
        name=check_key.name,
        scope=partition or "",
        site_id=site or None,
        partition_date=date.fromisoformat(day) if site else None,
        message=f"check {check_key.name} on {asset}{where} {problem}",
        details={"partition": partition, **details},
    )


def _check_condition(
    check_key: AssetCheckKey, partition: str | None, evaluation, run_id: str
) -> AlertCondition:
    return _partition_check_condition(
        check_key,
        partition,
        "error" if evaluation.severity.value == "ERROR" else "warning",
        f"failed: {evaluation.description or 'no description'}",
        {
            "run_id": run_id,
            "metadata": {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()},
        },
    )


def _errored_check_condition(
    check_key: AssetCheckKey, partition: str | None, run_id: str, error: str
) -> AlertCondition:
    return _partition_check_condition(
        check_key,
        partition,
        "error",
        f"raised an error in run {run_id}, so the data has no result for it: {error}",
        {"run_id": run_id, "error": error},
    )


def _root_error(error: SerializableErrorInfo | None, check_name: str) -> str:
    """Return the message of the innermost cause of a step's error, which names what the check
    code raised, rather than Dagster's wrapper around it. When that cause is a
    CheckEvaluationError, only the line of ``check_name`` is returned."""
    if error is None:
        return "step failed without an error message"
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    prefix = f"check {check_name}: "
    for line in message.splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix)[:MAX_ERROR_CHARS]
    return message[:MAX_ERROR_CHARS]


def errored_check_conditions(
    instance: DagsterInstance, run_id: str, check_keys: Iterable[AssetCheckKey]
) -> list[AlertCondition]:
    """Return one condition per (check, partition) that the failed run ``run_id`` planned and
    left without a result because the check's own step failed (the check raised).

    The partitions are those of the run's partition tags. A (check, partition) counts only
    while no result was recorded for it after the run planned the check, so a later result
    wins. A check skipped because an upstream step failed gets no condition: its asset was
    not materialized in that run, so the previous result still describes the stored partition.

    NOTE: a run that fails before any check runs, for example in a Spark step, raises no
    alert here. The Dagster UI shows the failed run, and `sites_fresh` flags a site that
    falls behind.
    """
    selected = set(check_keys)
    errors = {
        entry.step_key: entry.dagster_event.event_specific_data.error
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
        if entry.step_key and entry.dagster_event
    }
    run = instance.get_run_by_id(run_id)
    partitions = list(run_partition_keys(run.tags, instance)) if run else []
    conditions = []
    planned = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
    ).records
    for record in planned:
        entry = record.event_log_entry
        if entry.step_key not in errors or entry.dagster_event is None:
            continue
        check_key = entry.dagster_event.event_specific_data.asset_check_key
        if check_key not in selected:
            continue
        text = _root_error(errors[entry.step_key], check_key.name)
        latest = {
            info.partition_key: info.latest_check_event_storage_id
            for info in instance.event_log_storage.get_asset_check_partition_info(
                [check_key], partition_keys=partitions or None
            )
        }
        for partition in partitions or [None]:
            if latest.get(partition, 0) <= record.storage_id:
                conditions.append(_errored_check_condition(check_key, partition, run_id, text))
    return conditions


def check_changes(
    instance: DagsterInstance,
    check_keys: Sequence[AssetCheckKey],
    after_storage_id: int | None,
    pending_runs: Iterable[str] = (),
) -> CheckChanges:
    """Return the failed, errored and passed check results recorded after ``after_storage_id``.

    Only the latest result of each (check, partition) counts: a failure raises an alert for
    that partition and a pass clears it. A check that raised an error also raises an alert,
    once its run has failed (see errored_check_conditions). ``pending_runs`` are the runs
    whose planned checks were seen by an earlier call before the run finished.
    """
    infos = instance.event_log_storage.get_asset_check_partition_info(
        list(check_keys), after_storage_id=after_storage_id
    )
    raised, cleared = [], []
    cursor = after_storage_id
    planned_runs = set(pending_runs)
    for info in infos:
        cursor = max(cursor or 0, info.latest_check_event_storage_id)
        scope = info.partition_key or ""
        if info.latest_execution_status == AssetCheckExecutionRecordStatus.PLANNED:
            planned_runs.add(info.latest_planned_run_id)
        elif info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED:
            asset = info.check_key.asset_key.to_user_string()
            cleared.append(alert_key("check", asset, info.check_key.name, scope))
        elif info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED:
            records = instance.event_log_storage.get_asset_check_execution_history(
                info.check_key, limit=1, partition_filter=PartitionKeyFilter(key=info.partition_key)
            )
            if records and records[0].evaluation is not None:
                record = records[0]
                raised.append(
                    _check_condition(
                        info.check_key, info.partition_key, record.evaluation, record.run_id
                    )
                )
    still_running = []
    for run_id in sorted(planned_runs):
        run = instance.get_run_by_id(run_id)
        if run is None:
            continue
        if not run.is_finished:
            still_running.append(run_id)
        elif run.status == DagsterRunStatus.FAILURE:
            raised += errored_check_conditions(instance, run_id, check_keys)
    return CheckChanges(raised, cleared, cursor, still_running)


def freshness_conditions(
    instance: DagsterInstance, asset_keys: Iterable[AssetKey], today: date, lag_days: int
) -> list[AlertCondition]:
    """Return one condition per registered site more than ``lag_days`` days late, per asset."""
    conditions = []
    for asset_key in asset_keys:
        for site in site_freshness(instance, asset_key, today):
            if not site.is_stale(lag_days):
                continue
            latest = site.latest_date.isoformat() if site.latest_date else None
            state = (
                f"newest materialized date is {latest}, {site.days_behind} days ago"
                if latest
                else "never materialized"
            )
            conditions.append(
                AlertCondition(
                    kind="freshness",
                    severity="warning",
                    asset_key=asset_key.to_user_string(),
                    name=FRESHNESS_CHECK_NAME,
                    scope=site.site_id,
                    site_id=site.site_id,
                    partition_date=site.latest_date,
                    message=(
                        f"site {site.site_id} is late in {asset_key.to_user_string()}: {state} "
                        f"(limit DM_FRESHNESS_LAG_DAYS={lag_days})"
                    ),
                    details={"latest_date": latest, "days_behind": site.days_behind},
                )
            )
    return conditions


@dataclass(frozen=True)
class ThresholdRule:
    """A KPI column compared per site with a limit: ``minimum`` rules fire below it,
    maximum rules above it. ``setting`` names the environment variable of the limit."""

    name: str
    asset_key: tuple[str, ...]
    column: str
    setting: str
    minimum: bool
    unit: str

    @property
    def table(self) -> str:
        return ".".join(self.asset_key)

    def limit(self, settings: AlertSettings) -> float:
        return {
            "DM_ALERT_MIN_SUCCESS_RATE": settings.min_success_rate,
            "DM_ALERT_MIN_REGISTRATION_SUCCESS_RATE": settings.min_registration_success_rate,
            "DM_ALERT_MAX_REGISTRATION_P95_MS": settings.max_registration_p95_ms,
        }[self.setting]

    def breached(self, value: float, limit: float) -> bool:
        return value < limit if self.minimum else value > limit


# core5g.registration_kpis has one row per (date, site, AMF instance): the worst AMF of a
# site's newest day decides.
THRESHOLD_RULES = (
    ThresholdRule(
        "deployment_success_rate",
        ("kpi", "site_health_daily"),
        "success_rate",
        "DM_ALERT_MIN_SUCCESS_RATE",
        minimum=True,
        unit="%",
    ),
    ThresholdRule(
        "registration_success_rate",
        ("core5g", "registration_kpis"),
        "success_rate",
        "DM_ALERT_MIN_REGISTRATION_SUCCESS_RATE",
        minimum=True,
        unit="%",
    ),
    ThresholdRule(
        "registration_latency_p95",
        ("core5g", "registration_kpis"),
        "p95_latency",
        "DM_ALERT_MAX_REGISTRATION_P95_MS",
        minimum=False,
        unit=" ms",
    ),
)


def _worst_per_site(
    warehouse: WarehouseFiles, rule: ThresholdRule, today: date, sites: Sequence[str]
) -> dict[str, tuple[date, float]]:
    """Return each site's newest date with a value of the rule's column, and the worst value
    of that date (several rows per site and day are possible, for example one per AMF)."""
    first = today - timedelta(days=THRESHOLD_LOOKBACK_DAYS)
    dates = [d for d in warehouse.partition_dates(rule.table) if first <= d <= today]
    if not dates:
        return {}
    pairs = [(d.isoformat(), s) for d in dates for s in sites]
    table = warehouse.read_partitions(rule.table, pairs)
    if table is None:
        return {}
    if rule.column not in table.column_names:
        log.warning("threshold %s skipped: %s has no column %s", rule.name, rule.table, rule.column)
        return {}
    table = table.filter(pc.is_valid(table[rule.column]))
    worst: dict[str, tuple[date, float]] = {}
    for day_text, site, value in zip(
        table["date"].to_pylist(),
        table["site_id"].to_pylist(),
        table[rule.column].to_pylist(),
        strict=True,
    ):
        day = date.fromisoformat(day_text)
        current = worst.get(site)
        if current is None or day > current[0]:
            worst[site] = (day, value)
        elif day == current[0]:
            pick = min if rule.minimum else max
            worst[site] = (day, pick(value, current[1]))
    return worst


def threshold_conditions(
    warehouse: WarehouseFiles,
    settings: AlertSettings,
    defined_assets: set[AssetKey],
    sites: Sequence[str],
    today: date,
) -> list[AlertCondition]:
    """Return one condition per site and rule whose newest KPI value breaches the limit.

    A rule applies once its asset is defined in the code location and its table has files.
    """
    conditions = []
    for rule in THRESHOLD_RULES:
        if AssetKey(list(rule.asset_key)) not in defined_assets:
            continue
        if not warehouse.table_exists(rule.table):
            continue
        limit = rule.limit(settings)
        for site, (day, value) in sorted(_worst_per_site(warehouse, rule, today, sites).items()):
            if not rule.breached(value, limit):
                continue
            side = "below" if rule.minimum else "above"
            conditions.append(
                AlertCondition(
                    kind="threshold",
                    severity="error",
                    asset_key=AssetKey(list(rule.asset_key)).to_user_string(),
                    name=rule.name,
                    scope=site,
                    site_id=site,
                    partition_date=day,
                    message=(
                        f"site {site}: {rule.name} {value:g}{rule.unit} on {day.isoformat()} is "
                        f"{side} {rule.setting}={limit:g}{rule.unit}"
                    ),
                    details={"value": value, "limit": limit, "date": day.isoformat()},
                )
            )
    return conditions
