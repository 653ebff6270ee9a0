"""The Dagster instance storage: Dagster's PostgreSQL storage with pooled connections and
one statement per check result.

Dagster's PostgreSQL storage opens a new connection for every statement outside the
webserver. A range run over 100 (date, site) partitions writes about 7,000 events, and
opening their 14,700 connections took 58 s of a 208 s daily run at 100 sites (under the
profiler). This storage keeps the connections of each process open, as the webserver does,
and sets no statement timeout, because run workers and the daemon run long queries.

A connection dropped by a PostgreSQL restart fails one statement. SQLAlchemy then discards
the pool and the next statement connects again.

Dagster records a check result of a run as an UPDATE of the check's planned row and, when
no row matched, an INSERT, each with its own copy of the serialized event. The checks here
have no planned row per partition, so every per-partition result took both statements:
4.3 ms of the 8.8 ms of each of the 4,300 check evaluations of a daily run at 100 sites
(under the profiler). This storage writes a per-partition result as one upsert.

A check step stores one result per partition of its run. Inside
``batched_check_results`` the storage holds those results and writes them together: one
multi-row INSERT into the event log and one multi-row upsert of their execution rows, in one
transaction, instead of three statements per result (the event, a NOTIFY, the upsert).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext

from dagster import DagsterEventType, DagsterInstance
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

# Seconds after which a pooled connection is replaced.
POOL_RECYCLE_S = 3600
# Connections a process may open beyond the one it keeps, for the daemon's threads.
POOL_MAX_OVERFLOW = 20
# 0 disables PostgreSQL's statement timeout.
NO_STATEMENT_TIMEOUT = 0
# Maximum check results kept back in a batch before they are written.
CHECK_RESULT_BATCH_SIZE = 1000


# The columns of the unique index idx_asset_check_executions_unique.
_CHECK_EXECUTION_KEY = ("asset_key", "check_name", "run_id", "partition")


def _is_partition_check_result(event: EventLogEntry) -> bool:
    """Return whether ``event`` is a check result of a run for one partition."""
    dagster_event = event.dagster_event
    return (
        dagster_event is not None
        and dagster_event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        and bool(event.run_id)
        and dagster_event.event_specific_data.partition is not None
    )


class UpsertCheckEventLogStorage(PostgresEventLogStorage):
    """Dagster's PostgreSQL event log, writing per-partition check results as upserts, in
    batches inside ``batched_check_results``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The pending results of the open batched_check_results block of each thread.
        self._pending = threading.local()

    @contextmanager
    def batched_check_results(self) -> Iterator[None]:
        """Hold the per-partition check results that this thread stores in the block, and write
        them when the block ends, also on an error, or every CHECK_RESULT_BATCH_SIZE results.

        Any other event stored in the block first writes the pending results, so storage ids
        keep the order in which the events were stored. Readers see a pending result only once
        it is written.
        """
        if getattr(self._pending, "events", None) is not None:
            yield
            return
        self._pending.events = []
        try:
            yield
        finally:
            events, self._pending.events = self._pending.events, None
            self._store_check_results(events)

    def store_event(self, event: EventLogEntry) -> None:
        pending: list[EventLogEntry] | None = getattr(self._pending, "events", None)
        if pending is None:
            super().store_event(event)
        elif _is_partition_check_result(event):
            pending.append(event)
            if len(pending) >= CHECK_RESULT_BATCH_SIZE:
                self._store_check_results(pending)
                pending.clear()
        else:
            self._store_check_results(pending)
            pending.clear()
            super().store_event(event)

    def _store_check_results(self, events: Sequence[EventLogEntry]) -> None:
        """Write per-partition check results in one transaction: their events with one INSERT
        of many rows, then their execution rows with one upsert of many rows.

        Like Dagster's batch of materializations, this sends no NOTIFY per event (Dagster
        1.13 keeps it only for older readers). Each statement is compiled once and executed
        with a list of rows, which SQLAlchemy 2 sends as multi-row VALUES pages
        ("insertmanyvalues").
        """
        if not events:
            return
        event_rows = [self._event_to_row(event) for event in events]
        with self.index_transaction() as conn:
            returned = conn.execute(
                SqlEventLogStorageTable.insert().returning(
                    SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                ),
                event_rows,
            )
            event_ids = [row[0] for row in returned]
            rows = {}
            for event, event_row, event_id in zip(events, event_rows, event_ids, strict=True):
                row = self._check_execution_row(event, event_id, event_row["event"])
                # One statement may not update a row twice, so a repeated result keeps the last.
                rows[tuple(row[c] for c in _CHECK_EXECUTION_KEY)] = row
            _upsert_check_executions(conn, list(rows.values()))

    def _check_execution_row(
        self, event: EventLogEntry, event_id: int | None, serialized: str | None = None
    ) -> dict:
        """Return the asset_check_executions row of the per-partition check result ``event``;
        ``serialized`` is the event as serialize_value wrote it, when already done."""
        evaluation = event.get_dagster_event().event_specific_data
        status = (
            AssetCheckExecutionRecordStatus.SUCCEEDED
            if evaluation.passed
            else AssetCheckExecutionRecordStatus.FAILED
        )
        target = evaluation.target_materialization_data
        return {
            "asset_key": evaluation.asset_key.to_string(),
            "check_name": evaluation.check_name,
            "run_id": event.run_id,
            "partition": evaluation.partition,
            "execution_status": status.value,
            "evaluation_event": serialized if serialized is not None else serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
            "materialization_event_storage_id": target.storage_id if target else None,
        }

    def _update_asset_check_evaluation(self, event: EventLogEntry, event_id: int | None) -> None:
        evaluation = event.get_dagster_event().event_specific_data
        if evaluation.partition is None:
            # A NULL partition never conflicts in the unique index, so Dagster's way applies.
            super()._update_asset_check_evaluation(event, event_id)
            return
        with self.index_connection() as conn:
            _upsert_check_executions(conn, [self._check_execution_row(event, event_id)])


def _upsert_check_executions(conn: Connection, rows: list[dict]) -> None:
    """Insert the asset_check_executions ``rows``, or update those whose key already exists."""
    statement = insert(AssetCheckExecutionsTable)
    updated = {
        column: statement.excluded[column]
        for column in rows[0]
        if column not in _CHECK_EXECUTION_KEY
    }
    conn.execute(
        statement.on_conflict_do_update(index_elements=list(_CHECK_EXECUTION_KEY), set_=updated),
        rows,
    )


def batched_check_results(instance: DagsterInstance) -> AbstractContextManager[None]:
    """Batch the per-partition check results stored in the block when the instance's event
    log is an UpsertCheckEventLogStorage. Other event logs store them one by one."""
    storage = instance.event_log_storage
    if isinstance(storage, UpsertCheckEventLogStorage):
        return storage.batched_check_results()
    return nullcontext()


class PooledPostgresStorage(DagsterPostgresStorage):
    """Runs, events and schedules in PostgreSQL, over connections each process keeps open."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider=None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._event_log_storage = UpsertCheckEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        for storage in (self.run_storage, self.event_log_storage, self.schedule_storage):
            storage.optimize_for_webserver(
                statement_timeout=NO_STATEMENT_TIMEOUT,
                pool_recycle=POOL_RECYCLE_S,
                max_overflow=POOL_MAX_OVERFLOW,
            )

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
