"""Refresh of raw.nf_counter_increases after a batch of scrape files was written.

raw.nf_counter_increases holds, for each (site, instance) series, the increases between every
two consecutive stored scrapes. When a batch stores or removes scrapes at some times, only the
intervals that start or end at one of those times, or span a removed one, change. They are
deleted and computed again, from the scrapes in memory where the batch has them and from
raw.nf_metric_samples for the neighbours it does not have, so scrapes may arrive in any order
and in any batch.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import psycopg

from deploy_manager.core5g.sources.prometheus import (
    CounterIncrease,
    Scrape,
    ScrapeSample,
    counter_increases,
)
from deploy_manager.core5g.tables import (
    INCREASE_COLUMNS,
    INCREASES_TABLE,
    copy_rows,
    increase_rows,
)

# (site_id, instance, scraped_at) of one scrape.
ScrapeKey = tuple[str, str, datetime]
Series = tuple[str, str]


def refresh_increases(
    conn: psycopg.Connection,
    changes: Iterable[tuple[ScrapeKey, str]],
    scrapes: Mapping[ScrapeKey, Scrape],
) -> dict[str, int]:
    """Recompute the increases of the intervals that touch a changed scrape time.

    Args:
        conn: connection inside the batch's transaction, after its scrapes were stored.
        changes: the key of each scrape the batch stored or removed, with the source path of
            the file that stored or removed it.
        scrapes: scrapes already in memory by key. Stored scrapes missing here are read back.

    Returns:
        The number of increase rows written, by the source path they are counted for: the file
        that stored the interval's end, else its start, else the file that removed the scrape
        the interval spans.
    """
    changed: dict[Series, dict[datetime, str]] = defaultdict(dict)
    for (site_id, instance, at), source_path in changes:
        changed[(site_id, instance)].setdefault(at, source_path)
    if not changed:
        return {}
    _delete_touching(conn, changed)
    timelines = _timelines(conn, changed)
    owners = _changed_intervals(changed, timelines)

    needed = {
        (series[0], series[1], at)
        for series, start, end in owners
        for at in (start, end)
        if (series[0], series[1], at) not in scrapes
    }
    loaded = _load_scrapes(conn, needed)
    increases: list[CounterIncrease] = []
    written: dict[str, int] = defaultdict(int)
    for (series, start, end), (_, source_path) in owners.items():
        earlier = scrapes.get((*series, start)) or loaded[(*series, start)]
        later = scrapes.get((*series, end)) or loaded[(*series, end)]
        found = counter_increases(earlier, later)
        increases.extend(found)
        written[source_path] += len(found)
    copy_rows(conn, INCREASES_TABLE, INCREASE_COLUMNS, increase_rows(increases))
    return dict(written)


def _series_arrays(changed: Mapping[Series, Mapping[datetime, str]]) -> tuple[list, list, list]:
    sites, instances, times = [], [], []
    for (site_id, instance), at_paths in changed.items():
        for at in at_paths:
            sites.append(site_id)
            instances.append(instance)
            times.append(at)
    return sites, instances, times


def _delete_touching(conn: psycopg.Connection, changed: Mapping[Series, Mapping]) -> None:
    """Delete every interval that starts at, ends at or spans a changed time."""
    conn.execute(
        "DELETE FROM raw.nf_counter_increases AS i"
        " USING unnest(%s::text[], %s::text[], %s::timestamptz[]) AS c(site_id, instance, at)"
        " WHERE i.site_id = c.site_id AND i.instance = c.instance"
        " AND i.interval_start <= c.at AND i.interval_end >= c.at",
        _series_arrays(changed),
    )


def _timelines(
    conn: psycopg.Connection, changed: Mapping[Series, Mapping[datetime, str]]
) -> dict[Series, list[datetime]]:
    """Return the stored scrape times of each series from the last one before its first changed
    time to the first one after its last changed time, in time order."""
    sites, instances, firsts, lasts = [], [], [], []
    for (site_id, instance), at_paths in changed.items():
        sites.append(site_id)
        instances.append(instance)
        firsts.append(min(at_paths))
        lasts.append(max(at_paths))
    rows = conn.execute(
        "SELECT c.site_id, c.instance, s.scraped_at"
        " FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])"
        "   AS c(site_id, instance, first_at, last_at)"
        " CROSS JOIN LATERAL ("
        "   (SELECT scraped_at FROM raw.nf_scrapes"
        "    WHERE site_id = c.site_id AND instance = c.instance AND scraped_at < c.first_at"
        "    ORDER BY scraped_at DESC LIMIT 1)"
        "   UNION ALL"
        "   (SELECT scraped_at FROM raw.nf_scrapes"
        "    WHERE site_id = c.site_id AND instance = c.instance"
        "    AND scraped_at BETWEEN c.first_at AND c.last_at)"
        "   UNION ALL"
        "   (SELECT scraped_at FROM raw.nf_scrapes"
        "    WHERE site_id = c.site_id AND instance = c.instance AND scraped_at > c.last_at"
        "    ORDER BY scraped_at LIMIT 1)"
        " ) AS s",
        (sites, instances, firsts, lasts),
    ).fetchall()
    timelines: dict[Series, list[datetime]] = defaultdict(list)
    for site_id, instance, scraped_at in rows:
        timelines[(site_id, instance)].append(scraped_at.astimezone(UTC))
    for times in timelines.values():
        times.sort()
    return timelines


def _changed_intervals(
    changed: Mapping[Series, Mapping[datetime, str]],
    timelines: Mapping[Series, list[datetime]],
) -> dict[tuple[Series, datetime, datetime], tuple[int, str]]:
    """Return each interval between consecutive stored scrapes that touches a changed time,
    with the rank and source path of the file it is counted for (rank 0 beats 1 beats 2)."""
    owners: dict[tuple[Series, datetime, datetime], tuple[int, str]] = {}
    for series, at_paths in changed.items():
        times = timelines.get(series, [])
        for at, source_path in at_paths.items():
            index = bisect.bisect_left(times, at)
            if index < len(times) and times[index] == at:
                # A stored scrape: the interval ending at it, then the one starting at it.
                candidates = ((0, index - 1, index), (1, index, index + 1))
            else:
                # A removed scrape: the interval that now spans its time.
                candidates = ((2, index - 1, index),)
            for rank, start, end in candidates:
                if start < 0 or end >= len(times):
                    continue
                interval = (series, times[start], times[end])
                current = owners.get(interval)
                if current is None or rank < current[0]:
                    owners[interval] = (rank, source_path)
    return owners


def _load_scrapes(conn: psycopg.Connection, keys: set[ScrapeKey]) -> dict[ScrapeKey, Scrape]:
    """Read stored scrapes with their samples, two queries for all ``keys``."""
    if not keys:
        return {}
    arrays = ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    key_table = "unnest(%s::text[], %s::text[], %s::timestamptz[]) AS k(site_id, instance, at)"
    scrapes: dict[ScrapeKey, Scrape] = {}
    for site_id, instance, scraped_at, nf, vendor, start_time in conn.execute(
        "SELECT s.site_id, s.instance, s.scraped_at, s.nf, s.nf_vendor, s.process_start_time"
        f" FROM raw.nf_scrapes AS s JOIN {key_table}"
        " ON s.site_id = k.site_id AND s.instance = k.instance AND s.scraped_at = k.at",
        arrays,
    ):
        at = scraped_at.astimezone(UTC)
        scrapes[(site_id, instance, at)] = Scrape(
            site_id=site_id,
            nf=nf,
            instance=instance,
            vendor=vendor,
            scraped_at=at,
            process_start_time=start_time,
            samples=[],
            quarantined=[],
        )
    for row in conn.execute(
        "SELECT m.site_id, m.instance, m.scraped_at, m.metric, m.metric_type, m.labels_key,"
        " m.labels, m.value, m.value_text, m.quality, m.sample_timestamp_ms, m.line_number"
        f" FROM raw.nf_metric_samples AS m JOIN {key_table}"
        " ON m.site_id = k.site_id AND m.instance = k.instance AND m.scraped_at = k.at",
        arrays,
    ):
        scrapes[(row[0], row[1], row[2].astimezone(UTC))].samples.append(
            ScrapeSample(
                metric=row[3],
                metric_type=row[4],
                labels_key=row[5],
                labels=tuple(sorted(row[6].items())),
                value=row[7],
                value_text=row[8],
                quality=row[9],
                sample_timestamp_ms=row[10],
                line_number=row[11],
            )
        )
    return scrapes
