"""Cached reads of raw tables, shared by the steps of one run that read the same rows.

Several marts read the same raw table for the same rectangle: three 5G core marts read
``raw.amf_registration_attempts``, and two read ``raw.nf_counter_increases``. In a backfill
of 10 million registrations, one JDBC read of them took 36 s. So the first step reads and
caches the rows, and the other steps of the run reuse them. A read is unpersisted when every
step of the run expected to read it has released it. When one of those steps does not run
(skipped after a failure), the read stays cached until the next run in the same process, or
until the process ends. The steps of a run execute one at a time in one process (the
in-process executor), so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from dagster import AssetExecutionContext, AssetKey
from pyspark.sql import DataFrame

# (table, columns, dates, sites): two reads with equal keys return the same rows.
ReadKey = tuple[str, tuple[str, ...], tuple[date, ...], tuple[str, ...]]


@dataclass
class _CachedRead:
    frame: DataFrame
    rows: int
    # The assets of the run that are expected to read it and have not released it yet.
    pending: set[AssetKey] = field(default_factory=set)


class SharedRawReads:
    """The cached raw reads of the current run, keyed by table, columns and rectangle.

    ``readers`` maps a raw table to every asset that reads it with the same columns. A read
    of a table without an entry is released by the step that made it.
    """

    def __init__(self, readers: dict[str, Iterable[AssetKey]]) -> None:
        self.readers = {table: frozenset(keys) for table, keys in readers.items()}
        self._run_id: str | None = None
        self._reads: dict[ReadKey, _CachedRead] = {}

    def read(
        self,
        context: AssetExecutionContext,
        table: str,
        columns: Sequence[str],
        dates: Sequence[date],
        sites: Sequence[str],
        load: Callable[[], DataFrame],
    ) -> DataFrame:
        """Return the rows of ``table`` for the rectangle, cached: from an earlier step of
        this run when one read them, else from ``load()``. Logs the rows read."""
        run_id = context.run.run_id
        if run_id != self._run_id:
            # The reads of an earlier run in this process may be stale: raw tables change
            # between runs.
            self.clear()
            self._run_id = run_id

        key: ReadKey = (table, tuple(columns), tuple(dates), tuple(sites))
        cached = self._reads.get(key)
        if cached is not None:
            cached.pending.add(context.asset_key)
            context.log.info(
                "reused %d rows of raw.%s for %d dates x %d sites, read by an earlier step",
                cached.rows,
                table,
                len(dates),
                len(sites),
            )
            return cached.frame

        frame = load().cache()
        cached = _CachedRead(frame, frame.count(), {context.asset_key})
        # A run of a whole job has no asset selection of its own: its job's assets run.
        selection = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
        cached.pending |= {reader for reader in self.readers.get(table, ()) if reader in selection}
        self._reads[key] = cached
        context.log.info(
            "read %d rows of raw.%s for %d dates x %d sites",
            cached.rows,
            table,
            len(dates),
            len(sites),
        )
        return frame

    def release(self, asset_key: AssetKey) -> None:
        """Mark every read as done for ``asset_key``, and unpersist those no step still needs."""
        for key, cached in list(self._reads.items()):
            cached.pending.discard(asset_key)
            if not cached.pending:
                cached.frame.unpersist()
                del self._reads[key]

    def clear(self) -> None:
        """Unpersist every read kept."""
        for cached in self._reads.values():
            cached.frame.unpersist()
        self._reads.clear()

    @contextmanager
    def step(self, context: AssetExecutionContext) -> Iterator[None]:
        """Release the step's reads when the block ends, also when it raises."""
        try:
            yield
        finally:
            self.release(context.asset_key)
