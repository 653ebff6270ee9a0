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
import pyarrow.orc as orc
from dagster import ConfigurableResource

log = logging.getLogger(__name__)

HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# The partition columns of every mart, read back as strings from the folder names.
PARTITION_COLUMNS = ("date", "site_id")


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
        appended from the partition. Return None when none of the partitions has a data file.

        A column that older files lack (a mart only ever gains columns) reads as NULL there.
        Each file is read on this thread with its own ORC reader. A pyarrow dataset reads the
        files on its thread pool, and the ORC library's buffers then stay in the heap of each
        pool thread. Six reads of the same 200 small files left this process 400 MB resident
        with a dataset and 114 MB this way, and each read took 0.19 s against 0.12 s.
        """
        filesystem, _ = self._table_root(qualified_table)
        file_columns = (
            None if columns is None else [c for c in columns if c not in PARTITION_COLUMNS]
        )
        tables = []
        for day, site in partitions:
            for path in self.partition_files(qualified_table, day, site):
                tables.append(_read_file(filesystem, path, file_columns, day, site))
        if not tables:
            return None
        try:
            # "permissive" also widens a column whose type differs between files (int32 and
            # int64, or two decimal precisions), which "default" rejects.
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(
                f"files of {qualified_table} have incompatible column types ({exc}): "
                "materialize the partitions that were written with the other type again"
            ) from exc
        if columns is not None:
            table = table.select(columns)
        log.info("read %d rows of %s from %d files", table.num_rows, qualified_table, len(tables))
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


def _read_file(
    filesystem: pafs.FileSystem, path: str, columns: list[str] | None, day: str, site: str
) -> pa.Table:
    """Read one ORC file with the partition columns appended. A requested column that the
    file lacks is left out here and reads as NULL once the files are concatenated."""
    try:
        with filesystem.open_input_file(path) as source:
            reader = orc.ORCFile(source)
            rows = reader.nrows
            present = None if columns is None else [c for c in columns if c in reader.schema.names]
            table = reader.read(columns=present) if present != [] else None
    except (OSError, pa.ArrowException) as exc:
        raise OSError(
            f"failed to read ORC file {path} ({exc}): materialize its partition again"
        ) from exc
    arrays = [] if table is None else list(table.columns)
    names = [] if table is None else list(table.column_names)
    for name, value in zip(PARTITION_COLUMNS, (day, site), strict=True):
        value = None if value == HIVE_DEFAULT_PARTITION else value
        arrays.append(pa.repeat(pa.scalar(value, pa.string()), rows))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)
