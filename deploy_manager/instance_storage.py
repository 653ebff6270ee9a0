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
"""

from __future__ import annotations

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy.dialects.postgresql import insert

# Seconds after which a pooled connection is replaced.
POOL_RECYCLE_S = 3600
# Connections a process may open beyond the one it keeps, for the daemon's threads.
POOL_MAX_OVERFLOW = 20
# 0 disables PostgreSQL's statement timeout.
NO_STATEMENT_TIMEOUT = 0


class UpsertCheckEventLogStorage(PostgresEventLogStorage):
    """Dagster's PostgreSQL event log, writing each per-partition check result in one upsert."""

    def _update_asset_check_evaluation(self, event: EventLogEntry, event_id: int | None) -> None:
        evaluation = event.get_dagster_event().event_specific_data
        if evaluation.partition is None:
            # A NULL partition never conflicts in the unique index, so Dagster's way applies.
            super()._update_asset_check_evaluation(event, event_id)
            return
        status = (
            AssetCheckExecutionRecordStatus.SUCCEEDED
            if evaluation.passed
            else AssetCheckExecutionRecordStatus.FAILED
        )
        target = evaluation.target_materialization_data
        values = {
            "execution_status": status.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
            "materialization_event_storage_id": target.storage_id if target else None,
        }
        # The columns of the unique index idx_asset_check_executions_unique.
        key = {
            "asset_key": evaluation.asset_key.to_string(),
            "check_name": evaluation.check_name,
            "run_id": event.run_id,
            "partition": evaluation.partition,
        }
        statement = (
            insert(AssetCheckExecutionsTable)
            .values(**key, **values)
            .on_conflict_do_update(index_elements=list(key), set_=values)
        )
        with self.index_connection() as conn:
            conn.execute(statement)


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
