"""The ORC files of the Hive marts, read with pyarrow one (date, site) partition folder at a time.

Checks and sensors read the marts this way so they need no JVM: a second Spark session would
fail against the embedded Derby metastore, which admits one JVM at a time. A table lives in
``<warehouse>/<database>.db/<table>/date=<YYYY-MM-DD>/site_id=<site>/``, the layout Spark's
Hive catalog gives a managed table; rows whose partition value is NULL sit in folders named
``__HIVE_DEFAULT_PARTITION__``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from dagster import ConfigurableResource

log = logging.getLogger(__name__)

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
PARTITION_SCHEMA = pa.schema([("date", pa.string()), ("site_id", pa.string())])


def table_location(warehouse_dir: str, qualified_table: str) -> str:
    """Return the folder of ``database.table`` below the warehouse (a path or a URI)."""
    database, _, table = qualified_table.partition(".")
    if not table:
        raise ValueError(
            f"table {qualified_table!r} is invalid: name a mart as <database>.<table>, "
            "for example netops.ansible_deployment_metrics"
        )
    return f"{warehouse_dir.rstrip('/')}/{database}.db/{table}"


def _data_file(info: pafs.FileInfo) -> bool:
    # Spark leaves .crc checksums, _SUCCESS markers and .spark-staging folders beside the data.
    return info.type == pafs.FileType.File and not info.base_name.startswith((".", "_"))


class WarehouseFiles(ConfigurableResource):
    """Read access to the ORC files of the Hive warehouse at ``warehouse_dir``."""

    warehouse_dir: str

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        if "://" in self.warehouse_dir:
            return pafs.FileSystem.from_uri(self.warehouse_dir)
        return pafs.LocalFileSystem(), self.warehouse_dir

    def _table_root(self, qualified_table: str) -> tuple[pafs.FileSystem, str]:
        filesystem, root = self._filesystem()
        return filesystem, table_location(root, qualified_table)

    def table_exists(self, qualified_table: str) -> bool:
        filesystem, root = self._table_root(qualified_table)
        return filesystem.get_file_info(root).type == pafs.FileType.Directory

    def partition_files(self, qualified_table: str, day: str, site_id: str) -> list[str]:
        """Return the data files of one partition; an absent partition has none."""
        filesystem, root = self._table_root(qualified_table)
        selector = pafs.FileSelector(f"{root}/date={day}/site_id={site_id}", allow_not_found=True)
        return sorted(info.path for info in filesystem.get_file_info(selector) if _data_file(info))

    def read_partitions(
        self,
        qualified_table: str,
        partitions: Iterable[tuple[str, str]],
        columns: list[str] | None = None,
    ) -> pa.Table | None:
        """Read the rows of the (date, site_id) partitions given, with ``date`` and ``site_id``
        taken from the folder names. Return None when none of the partitions has a data file."""
        filesystem, root = self._table_root(qualified_table)
        files = [
            f for day, site in partitions for f in self.partition_files(qualified_table, day, site)
        ]
        if not files:
            return None
        dataset = ds.dataset(
            files,
            format="orc",
            filesystem=filesystem,
            partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
            partition_base_dir=root,
        )
        table = dataset.to_table(columns=columns)
        log.info("read %d rows of %s from %d files", table.num_rows, qualified_table, len(files))
        return table

    def partition_dates(self, qualified_table: str) -> list[date]:
        """Return the dates that have a partition folder, oldest first (NULL dates left out)."""
        filesystem, root = self._table_root(qualified_table)
        infos = filesystem.get_file_info(pafs.FileSelector(root, allow_not_found=True))
        dates = []
        for info in infos:
            name = info.base_name
            if info.type != pafs.FileType.Directory or not name.startswith("date="):
                continue
            value = name.removeprefix("date=")
            if value != HIVE_DEFAULT_PARTITION:
                dates.append(date.fromisoformat(value))
        return sorted(dates)

    def null_key_partition_rows(self, qualified_table: str, day: str, site_id: str) -> int:
        """Count the rows that a NULL ``date`` or ``site_id`` put in Hive's default partition
        folders beside the (day, site_id) partition."""
        partitions = [(HIVE_DEFAULT_PARTITION, site_id), (day, HIVE_DEFAULT_PARTITION)]
        filesystem, _ = self._filesystem()
        files = [f for d, s in partitions for f in self.partition_files(qualified_table, d, s)]
        if not files:
            return 0
        return ds.dataset(files, format="orc", filesystem=filesystem).count_rows()
