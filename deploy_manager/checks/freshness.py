"""Lateness per site: the newest date each site has been materialized for.

Dagster's freshness checks and ``FreshnessPolicy`` judge a whole asset: one fresh site hides
every late one. The check here reads the materialized (date, site) partitions from the
instance and flags each registered site whose newest date is more than
``DM_FRESHNESS_LAG_DAYS`` days before today (UTC). A site never materialized is flagged too.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetSpec,
    DagsterInstance,
    FreshnessPolicy,
    apply_freshness_policy,
    asset_check,
)

from deploy_manager.alerts.settings import load_alert_settings
from deploy_manager.checks.partitioned import CheckSeverity
from deploy_manager.partitions import site_partitions

FRESHNESS_CHECK_NAME = "sites_fresh"
FRESHNESS_SEVERITY = CheckSeverity(
    AssetCheckSeverity.WARN,
    "a late site is an operational problem: the partitions that exist are still correct, so "
    "nothing downstream is held back",
)


@dataclass(frozen=True)
class SiteFreshness:
    """The newest materialized date of one site, and how many days it is behind today."""

    site_id: str
    latest_date: date | None
    days_behind: int | None

    def is_stale(self, lag_days: int) -> bool:
        return self.days_behind is None or self.days_behind > lag_days


def utc_today() -> date:
    return datetime.now(UTC).date()


def site_freshness(
    instance: DagsterInstance,
    asset_key: AssetKey,
    today: date,
    sites: Sequence[str] | None = None,
) -> list[SiteFreshness]:
    """Return the freshness of each site (every registered site when ``sites`` is None)."""
    chosen = list(instance.get_dynamic_partitions(site_partitions.name) if sites is None else sites)
    latest: dict[str, date] = {}
    for key in instance.get_materialized_partitions(asset_key):
        day_text, _, site = key.partition("|")
        day = date.fromisoformat(day_text)
        if site not in latest or day > latest[site]:
            latest[site] = day
    return [
        SiteFreshness(
            site_id=site,
            latest_date=latest.get(site),
            days_behind=(today - latest[site]).days if site in latest else None,
        )
        for site in chosen
    ]


def build_site_freshness_check(
    asset_key: AssetKey | Sequence[str], *, severity: CheckSeverity = FRESHNESS_SEVERITY
) -> AssetChecksDefinition:
    """Build the per-site lateness check of a (date, site) asset; the lag is read from
    ``DM_FRESHNESS_LAG_DAYS`` at each evaluation."""
    key = AssetKey.from_coercible(asset_key)

    @asset_check(
        asset=key,
        name=FRESHNESS_CHECK_NAME,
        description=(
            "Every registered site has a materialized date no more than DM_FRESHNESS_LAG_DAYS "
            f"days before today (UTC). Severity {severity.level.value}: {severity.reason}"
        ),
        blocking=False,
        metadata={"severity": severity.level.value, "severity_reason": severity.reason},
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        lag_days = load_alert_settings().freshness_lag_days
        sites = site_freshness(context.instance, key, utc_today())
        stale = [s for s in sites if s.is_stale(lag_days)]
        context.log.info(
            "%d of %d sites of %s are more than %d days late",
            len(stale),
            len(sites),
            key.to_user_string(),
            lag_days,
        )
        return AssetCheckResult(
            passed=not stale,
            severity=severity.level,
            description=(
                f"all {len(sites)} sites within {lag_days} days"
                if not stale
                else f"{len(stale)} of {len(sites)} sites more than {lag_days} days late"
            ),
            metadata={
                "lag_days": lag_days,
                "sites": len(sites),
                "stale_sites": {
                    s.site_id: s.latest_date.isoformat() if s.latest_date else None for s in stale
                },
            },
        )

    return _check


def daily_freshness_policy(lag_days: int) -> FreshnessPolicy:
    """Policy of a daily aggregate: FAIL when no partition was materialized for ``lag_days``
    days, WARN after 25 hours, which is one missed daily run."""
    fail_window = timedelta(days=lag_days)
    warn_window = timedelta(hours=25)
    return FreshnessPolicy.time_window(
        fail_window=fail_window, warn_window=warn_window if warn_window < fail_window else None
    )


def with_daily_freshness_policy(spec: AssetSpec) -> AssetSpec:
    """Attach daily_freshness_policy (lag from DM_FRESHNESS_LAG_DAYS) to an asset spec."""
    return apply_freshness_policy(
        spec, daily_freshness_policy(load_alert_settings().freshness_lag_days)
    )
