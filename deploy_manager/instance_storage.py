"""The Dagster instance storage: Dagster's PostgreSQL storage with pooled connections.

Dagster's PostgreSQL storage opens a new connection for every statement outside the
webserver. A range run over 100 (date, site) partitions writes about 7,000 events, and
opening their 14,700 connections took 58 s of a 208 s daily run at 100 sites (under the
profiler). This storage keeps the connections of each process open, as the webserver does,
and sets no statement timeout, because run workers and the daemon run long queries.

A connection dropped by a PostgreSQL restart fails one statement; SQLAlchemy then discards
the pool and the next statement connects again.
"""

from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# Seconds after which a pooled connection is replaced.
POOL_RECYCLE_S = 3600
# Connections a process may open beyond the one it keeps, for the daemon's threads.
POOL_MAX_OVERFLOW = 20
# 0 disables PostgreSQL's statement timeout.
NO_STATEMENT_TIMEOUT = 0


class PooledPostgresStorage(DagsterPostgresStorage):
    """Runs, events and schedules in PostgreSQL, over connections each process keeps open."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
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
