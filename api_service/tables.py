"""Read the Hive ORC tables of the warehouse with pyarrow, and cache what was read.

A table lives in ``<warehouse>/<db>.db/<table>/date=YYYY-MM-DD/site_id=<ID>/part-*.orc``.
Each table's rows within the last ``MAX_DAYS`` materialized dates are held in memory as one
Arrow table per date. The marts are aggregates (tens of rows per site and day), so this is a
few megabytes per table for hundreds of sites.

Change detection lists the table's folder and stats each date folder. In a served API a
watcher task does it every ``check_seconds`` for every table read so far, in a worker thread.
So no request waits for a look or for the read of new files, and a request gets the snapshot
that was current when it arrived. Without the watcher, or with ``check_seconds`` 0, a request looks
first when its table is due. Spark's dynamic partition overwrite replaces a partition by
renaming folders inside the date folder, which changes the date folder's mtime. Only the
date folders whose mtime changed are listed again, and only the (date, site) partitions whose
files changed are read again. Those are selected by a filter on the hive partition fields,
so pyarrow opens no other file.

Results computed from the tables are cached until one of the tables they read changes.
"""

from __future__ import annotations

import functools
import logging
import operator
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.orc as orc

log = logging.getLogger(__name__)

# Largest ``days`` window served, so also the number of dates held in memory per table.
MAX_DAYS = 366

PARTITION_SCHEMA = pa.schema([("date", pa.date32()), ("site_id", pa.string())])
PARTITIONING = ds.partitioning(PARTITION_SCHEMA, flavor="hive")

# File systems stamp mtimes from a clock that advances every few milliseconds, so a folder
# changed twice within one tick keeps its mtime. A folder modified this recently is therefore
# listed again at the next check even when its mtime looks unchanged.
SETTLE_NS = 2_000_000_000

# Maximum files read per pyarrow dataset scan when many dates changed, such as at start.
# The memory peak of a scan grows with its files. Reading 9,000 small Spark ORC files of one
# mart one file at a time (pyarrow 26) peaked 56 MB above the baseline in scans of 1,000
# files, and 32 MB in scans of 100.
READ_BATCH_FILES = 200

Partition = tuple[date, str]
FileState = tuple[str, int, int]  # path, size in bytes, mtime in ns


@dataclass(frozen=True)
class TableSnapshot:
    """The rows of one table held in memory at one version, with its partitions."""

    name: str
    version: int = 0
    data: pa.Table | None = None
    dates: tuple[date, ...] = ()
    sites: frozenset[str] = frozenset()
    partitions: int = 0

    @property
    def materialized(self) -> bool:
        return bool(self.dates)

    @property
    def latest_date(self) -> date | None:
        return self.dates[-1] if self.dates else None

    @property
    def columns(self) -> list[str]:
        return [] if self.data is None else self.data.column_names

    def window(self, days: int) -> tuple[date, date] | None:
        """Return the first and last date of the ``days`` dates ending at the latest date."""
        if not self.dates:
            return None
        last = self.dates[-1]
        return last - timedelta(days=days - 1), last

    def rows(self, first: date, last: date, site_id: str | None = None) -> pa.Table | None:
        """Return the rows of dates first..last (and of ``site_id`` when given), or None."""
        if self.data is None:
            return None
        condition = (ds.field("date") >= pa.scalar(first, pa.date32())) & (
            ds.field("date") <= pa.scalar(last, pa.date32())
        )
        if site_id is not None:
            condition &= ds.field("site_id") == site_id
        return self.data.filter(condition)


@dataclass
class _DateFolder:
    """A date folder as listed: the data files of each site partition."""

    mtime_ns: int
    settled: bool
    files: dict[str, tuple[FileState, ...]] = field(default_factory=dict)

    def known(self) -> _KnownFolder:
        return _KnownFolder(
            self.mtime_ns,
            self.settled,
            {site: _signature(states) for site, states in self.files.items()},
        )


@dataclass
class _KnownFolder:
    """A date folder as last read: one signature of the files of each site partition.

    Holding a signature instead of the file paths keeps a few bytes per partition in memory
    rather than a few hundred per file."""

    mtime_ns: int
    settled: bool
    signatures: dict[str, int]


def _signature(states: tuple[FileState, ...]) -> int:
    return hash(states)


def _parse_partition_value(name: str, key: str) -> str | None:
    prefix = f"{key}="
    return name[len(prefix) :] if name.startswith(prefix) else None


def _list_files(folder: str) -> tuple[FileState, ...]:
    """Return the data files of a partition folder; Spark's ``_SUCCESS`` and hidden files are
    skipped."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(("_", ".")) or not entry.is_file():
                continue
            stat = entry.stat()
            found.append((entry.path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


class WarehouseTable:
    """One Hive table of the warehouse, re-read partition by partition as its files change."""

    def __init__(self, warehouse_dir: Path, name: str, check_seconds: float) -> None:
        database, table = name.split(".", 1)
        self.name = name
        self.path = Path(warehouse_dir) / f"{database}.db" / table
        self.check_seconds = check_seconds
        self.snapshot = TableSnapshot(name)
        self.checked_at = float("-inf")
        self.checked_at_utc: datetime | None = None
        # The number of checks of the folders so far, whether they changed or not.
        self.check_count = 0
        # Set while a watcher looks at the folders, so requests need not.
        self.watched = False
        self._lock = threading.Lock()
        self._folders: dict[date, _KnownFolder] = {}
        self._chunks: dict[date, pa.Table] = {}
        self._schema: pa.Schema | None = None

    def needs_check(self) -> bool:
        """Whether a request must look at the folders before it reads the table: before the
        first read, and when no watcher looks at them and ``check_seconds`` have passed."""
        if self.checked_at == float("-inf"):
            return True
        if self.watched and self.check_seconds > 0:
            return False
        return time.monotonic() - self.checked_at >= self.check_seconds

    def refresh(self, force: bool = False) -> TableSnapshot:
        """Look for changed partitions, read them, and return the current snapshot. Without
        ``force``, look only when ``needs_check()``.

        A partition replaced while it is being read makes pyarrow raise. The previous
        snapshot then stays current and the partition is read again at the next check.
        """
        with self._lock:
            if not force and not self.needs_check():
                return self.snapshot
            started = time.perf_counter()
            try:
                changed = self._scan()
            except (OSError, pa.ArrowException) as exc:
                log.warning(
                    "reading %s failed, keeping version %d until the next check: %s",
                    self.name,
                    self.snapshot.version,
                    exc,
                )
                changed = 0
            self.checked_at = time.monotonic()
            self.checked_at_utc = datetime.now(UTC)
            self.check_count += 1
            if changed:
                self.snapshot = self._build_snapshot()
                # The ORC reader's buffers are freed but kept by the allocator otherwise.
                pa.default_memory_pool().release_unused()
                log.info(
                    "read %s version %d: %d partitions changed, %d rows held, %.1f ms",
                    self.name,
                    self.snapshot.version,
                    changed,
                    0 if self.snapshot.data is None else self.snapshot.data.num_rows,
                    (time.perf_counter() - started) * 1000,
                )
            return self.snapshot

    def _scan(self) -> int:
        """Read the partitions that changed on disk into the date chunks; return how many
        partitions were added, replaced or removed.

        The folder states are only stored after the read succeeded, so a failed read is
        tried again at the next check.
        """
        current = self._list_date_folders()
        changed = 0
        for day in [d for d in self._folders if d not in current]:
            changed += len(self._folders.pop(day).signatures)
            self._chunks.pop(day, None)
        if not current:
            return changed
        horizon = max(current) - timedelta(days=MAX_DAYS - 1)
        for day in [d for d in self._chunks if d < horizon]:
            del self._chunks[day]
        now_ns = time.time_ns()
        listed: dict[date, _DateFolder] = {}
        to_read: dict[date, set[str]] = {}
        removed: dict[date, set[str]] = {}
        for day, (folder, mtime_ns) in current.items():
            known = self._folders.get(day)
            if known is not None and known.mtime_ns == mtime_ns and known.settled:
                continue
            files = self._list_site_folders(folder)
            listed[day] = _DateFolder(mtime_ns, now_ns - mtime_ns > SETTLE_NS, files)
            previous = known.signatures if known is not None else {}
            fresh = {s for s, state in files.items() if previous.get(s) != _signature(state)}
            removed_sites = set(previous) - set(files)
            changed += len(fresh) + len(removed_sites)
            if day < horizon:
                continue
            if day not in self._chunks:
                to_read[day], removed[day] = set(files), set()
            elif fresh or removed_sites:
                to_read[day], removed[day] = fresh, removed_sites
        # A first read covers every date. Reading a few dates at a time and returning the
        # ORC reader's buffers after each batch bounds the memory peak of that read.
        for batch in _batches(to_read, listed):
            self._read_partitions(
                {day: listed[day] for day in batch},
                {day: to_read[day] for day in batch},
                removed,
            )
            pa.default_memory_pool().release_unused()
        self._folders.update((day, folder.known()) for day, folder in listed.items())
        return changed

    def _list_date_folders(self) -> dict[date, tuple[str, int]]:
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            return {}
        folders = {}
        for entry in entries:
            value = _parse_partition_value(entry.name, "date")
            if value is None or not entry.is_dir():
                continue
            try:
                day = date.fromisoformat(value)
            except ValueError:
                log.warning("skipping %s in %s: not a date partition", entry.name, self.name)
                continue
            folders[day] = (entry.path, entry.stat().st_mtime_ns)
        return folders

    @staticmethod
    def _list_site_folders(folder: str) -> dict[str, tuple[FileState, ...]]:
        """Return the data files of each site partition of a date folder that has some."""
        sites = {}
        with os.scandir(folder) as entries:
            for entry in entries:
                site = _parse_partition_value(entry.name, "site_id")
                if site is None or not entry.is_dir():
                    continue
                files = _list_files(entry.path)
                if files:
                    sites[site] = files
        return sites

    def _read_partitions(
        self,
        listed: Mapping[date, _DateFolder],
        to_read: Mapping[date, set[str]],
        removed: Mapping[date, set[str]],
    ) -> None:
        """Read the site partitions ``to_read`` and replace their rows in the date chunks.

        The dataset spans the files of every date folder listed, and the filter on the
        partition fields prunes it to the partitions that changed before any file is opened.
        """
        files = [
            state
            for day, sites in to_read.items()
            for site in sites
            for state in listed[day].files[site]
        ]
        fresh = None
        if files:
            self._schema = self._unified_schema(files)
            dataset = ds.dataset(
                [
                    path
                    for folder in listed.values()
                    for site_files in folder.files.values()
                    for path, _, _ in site_files
                ],
                schema=self._schema,
                format="orc",
                partitioning=PARTITIONING,
                partition_base_dir=str(self.path),
            )
            # Reading one file at a time keeps one ORC reader's buffers alive instead of one
            # per thread. For a date of 100 files of a few rows each it measured no slower
            # than the default read-ahead. One chunk per file comes back, and the per-date
            # filters below work on one combined chunk.
            fresh = dataset.to_table(
                filter=_partition_filter(listed, to_read),
                fragment_readahead=1,
                batch_readahead=1,
            ).combine_chunks()
        for day, sites in to_read.items():
            parts = []
            old = self._chunks.get(day)
            replaced = pa.array(sorted(sites | removed[day]), pa.string())
            if old is not None and old.num_columns:
                parts.append(old.filter(pc.invert(pc.is_in(old["site_id"], value_set=replaced))))
            if fresh is not None and sites:
                on_day = pc.equal(fresh["date"], pa.scalar(day, pa.date32()))
                parts.append(fresh.filter(on_day))
            self._chunks[day] = (
                pa.concat_tables(parts, promote_options="default").combine_chunks()
                if parts
                else pa.table({})
            )

    def _unified_schema(self, files: Iterable[FileState]) -> pa.Schema:
        """Return the known columns plus those of the newest file, then the partition fields.

        Spark only ever adds columns to a mart (``ALTER TABLE ADD COLUMNS``), so the newest
        file has every column, and older files read as NULL in the columns they lack.
        """
        newest = max(files, key=lambda state: state[2])[0]
        file_schema = orc.ORCFile(newest).schema
        schemas = [file_schema] if self._schema is None else [self._schema, file_schema]
        unified = pa.unify_schemas([_without_partition_fields(s) for s in schemas])
        return pa.schema([*unified, *PARTITION_SCHEMA])

    def _build_snapshot(self) -> TableSnapshot:
        folders = self._folders
        dates = tuple(sorted(d for d, folder in folders.items() if folder.signatures))
        sites = frozenset(s for folder in folders.values() for s in folder.signatures)
        partitions = sum(len(folder.signatures) for folder in folders.values())
        chunks = [self._chunks[d] for d in sorted(self._chunks) if self._chunks[d].num_columns]
        data = None
        if chunks and self._schema is not None:
            data = _as_utc(
                pa.concat_tables(
                    [_conform(chunk, self._schema) for chunk in chunks],
                    promote_options="default",
                )
            )
        return TableSnapshot(
            name=self.name,
            version=self.snapshot.version + 1,
            data=data,
            dates=dates,
            sites=sites,
            partitions=partitions,
        )


def _batches(
    to_read: Mapping[date, set[str]], listed: Mapping[date, _DateFolder]
) -> Iterator[list[date]]:
    """Split the dates to read, in order, into batches of at most READ_BATCH_FILES files.

    A date with more files than that is a batch of its own."""
    batch: list[date] = []
    files = 0
    for day in sorted(to_read):
        size = sum(len(states) for states in listed[day].files.values())
        if batch and files + size > READ_BATCH_FILES:
            yield batch
            batch, files = [], 0
        batch.append(day)
        files += size
    if batch:
        yield batch


def _partition_filter(
    listed: Mapping[date, _DateFolder], to_read: Mapping[date, set[str]]
) -> ds.Expression | None:
    """Return the filter on the partition fields that selects the partitions ``to_read``
    among those ``listed``, or None when they are all of them.

    A date whose every site is read is selected by its date alone, which keeps the filter
    short on a first read of thousands of partitions.
    """
    if all(to_read.get(day) == set(folder.files) for day, folder in listed.items()):
        return None
    expressions = []
    for day, sites in to_read.items():
        if not sites:
            continue
        on_date = ds.field("date") == pa.scalar(day, pa.date32())
        if sites != set(listed[day].files):
            on_date &= ds.field("site_id").isin(sorted(sites))
        expressions.append(on_date)
    return functools.reduce(operator.or_, expressions)


def _without_partition_fields(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f for f in schema if f.name not in PARTITION_SCHEMA.names])


def _as_utc(table: pa.Table) -> pa.Table:
    """Mark timestamp columns as UTC, in microseconds: Spark writes them in its session time
    zone, which the platform sets to UTC."""
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type) and column.type.tz is None:
            naive = table[column.name].cast(pa.timestamp("us"), safe=False)
            utc = naive.cast(pa.timestamp("us", tz="UTC"))
            table = table.set_column(index, pa.field(column.name, utc.type), utc)
    return table


def _conform(chunk: pa.Table, schema: pa.Schema) -> pa.Table:
    """Give a chunk read under an older schema the columns added since, as NULLs."""
    if chunk.schema.equals(schema):
        return chunk
    columns = [
        chunk[f.name] if f.name in chunk.column_names else pa.nulls(chunk.num_rows, f.type)
        for f in schema
    ]
    return pa.table(columns, schema=schema)


QueryFunction = Callable[..., Any]


class TableStore:
    """The tables of one warehouse and the results computed from them."""

    def __init__(self, warehouse_dir: Path, check_seconds: float, cache_entries: int) -> None:
        self.warehouse_dir = Path(warehouse_dir)
        self.check_seconds = check_seconds
        self.cache_entries = cache_entries
        self._tables: dict[str, WarehouseTable] = {}
        self._groups: dict[tuple[str, ...], tuple[WarehouseTable, ...]] = {}
        self._results: OrderedDict[tuple, tuple[tuple[int, ...], Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def table(self, name: str) -> WarehouseTable:
        found = self._tables.get(name)
        if found is None:
            found = self._tables[name] = WarehouseTable(
                self.warehouse_dir, name, self.check_seconds
            )
        return found

    async def snapshots(self, names: tuple[str, ...]) -> dict[str, TableSnapshot]:
        """Return the current snapshot of each table, refreshing those due for a check.

        The check and any read run in a worker thread, so the event loop does not wait for
        them.
        """
        tables = self._groups.get(names)
        if tables is None:
            tables = self._groups[names] = tuple(self.table(name) for name in names)
        due = [t for t in tables if t.needs_check()]
        if due:
            await anyio.to_thread.run_sync(_refresh_all, due)
        return {t.name: t.snapshot for t in tables}

    async def watch(self) -> None:
        """Look at the folders of every table read so far every ``check_seconds``, until
        cancelled. A look that fails is logged and tried again at the next pass."""
        if self.check_seconds <= 0:
            return
        log.info("watching the tables of %s every %g s", self.warehouse_dir, self.check_seconds)
        try:
            while True:
                for table in self._tables.values():
                    table.watched = True
                await anyio.sleep(self.check_seconds)
                tables = list(self._tables.values())
                try:
                    await anyio.to_thread.run_sync(_refresh_all, tables, True)
                except Exception:
                    log.exception("looking at the tables of %s failed", self.warehouse_dir)
        finally:
            for table in self._tables.values():
                table.watched = False

    async def cached(
        self,
        key: tuple,
        snapshots: Mapping[str, TableSnapshot],
        compute: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Return the result cached under ``key`` for these table versions, or compute it.

        ``compute(snapshots, *args, **kwargs)`` runs in a worker thread. The cache keeps the
        ``cache_entries`` most recently used results.
        """
        versions = tuple(s.version for s in snapshots.values())
        entry = self._results.get(key)
        if entry is not None and entry[0] == versions:
            self._results.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        task = functools.partial(compute, snapshots, *args, **kwargs)
        result = await anyio.to_thread.run_sync(task)
        self._results[key] = (versions, result)
        self._results.move_to_end(key)
        while len(self._results) > self.cache_entries:
            self._results.popitem(last=False)
        return result


def _refresh_all(tables: Iterable[WarehouseTable], force: bool = False) -> None:
    for table in tables:
        table.refresh(force)
