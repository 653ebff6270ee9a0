"""The one partitioning of the platform: daily ``date`` x dynamic ``site``.

Dagster orders the dimensions of a MultiPartitionsDefinition by name, so keys read
``2026-11-30|SITE001``. Sites are dynamic partitions registered from inventory snapshots at
ingest. Dagster advises at most about 100,000 partitions per asset: 100 sites cover about
2.7 years of days, so set ``DM_PARTITIONS_START_DATE`` no earlier than the history you keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from dagster import (
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from deploy_manager.settings import load_settings

SITE_DIMENSION = "site"
DATE_DIMENSION = "date"

# Letters, digits, '_', '-' and '.', starting with a letter or digit. This excludes the
# characters Dagster reserves in partition keys ('|', '[', ']', ',') and anything that would
# need quoting in a Hive partition path or a SQL literal.
SITE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

site_partitions = DynamicPartitionsDefinition(name="site")
date_partitions = DailyPartitionsDefinition(
    start_date=load_settings().partitions_start_date.isoformat(),
    end_offset=1,
)
date_site_partitions = MultiPartitionsDefinition(
    {DATE_DIMENSION: date_partitions, SITE_DIMENSION: site_partitions}
)


class InvalidSiteIdError(ValueError):
    """A site name that cannot be a partition key or a Hive partition value."""


_INVENTORY_FIX = "rename the site_<ID> group or the site_id variable"


def validate_site_id(site_id: str, fix: str = _INVENTORY_FIX) -> str:
    """Return ``site_id`` unchanged or raise InvalidSiteIdError naming it, the rule and
    ``fix``, the action that corrects the place the id came from."""
    if not isinstance(site_id, str) or not SITE_ID_PATTERN.match(site_id):
        reserved = [c for c in "|[]," if isinstance(site_id, str) and c in site_id]
        detail = f" (contains {', '.join(repr(c) for c in reserved)})" if reserved else ""
        raise InvalidSiteIdError(
            f"site id {site_id!r} is invalid{detail}: site ids are 1-64 letters, digits, "
            "'_', '-' or '.', start with a letter or digit, and may not contain "
            f"'|', '[', ']' or ','; {fix}"
        )
    return site_id


def partition_key(day: date, site_id: str) -> MultiPartitionKey:
    return MultiPartitionKey({DATE_DIMENSION: day.isoformat(), SITE_DIMENSION: site_id})


def split_partition_keys(keys: Iterable[str]) -> tuple[list[date], list[str]]:
    """Return the sorted distinct dates and sites of multi-partition keys ``date|site``."""
    dates: set[date] = set()
    sites: set[str] = set()
    for key in keys:
        day, site = str(key).split("|", 1)
        dates.add(date.fromisoformat(day))
        sites.add(validate_site_id(site))
    return sorted(dates), sorted(sites)


def date_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def rectangle_keys(dates: Sequence[date], sites: Sequence[str]) -> list[str]:
    return [str(partition_key(d, s)) for d in dates for s in sites]
