"""Reading mart partitions from their ORC files without Spark."""

from __future__ import annotations

import pyarrow as pa
import pytest

from deploy_manager.resources.warehouse_files import WarehouseFiles

from .warehouse_helpers import write_partition

TABLE = "core5g.registration_kpis"


def test_read_partitions_appends_partition_columns(tmp_path):
    write_partition(tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": [3, 4]})
    write_partition(tmp_path, TABLE, "2026-11-02", "SITE002", {"attempts": [7]})
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    table = warehouse.read_partitions(
        TABLE, [("2026-11-01", "SITE001"), ("2026-11-02", "SITE002"), ("2026-11-03", "SITE001")]
    )

    assert table.column_names == ["attempts", "date", "site_id"]
    assert table.to_pylist() == [
        {"attempts": 3, "date": "2026-11-01", "site_id": "SITE001"},
        {"attempts": 4, "date": "2026-11-01", "site_id": "SITE001"},
        {"attempts": 7, "date": "2026-11-02", "site_id": "SITE002"},
    ]


def test_read_partitions_without_files_is_none(tmp_path):
    write_partition(tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": [3]})
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    assert warehouse.read_partitions(TABLE, [("2026-11-01", "SITE002")]) is None
    assert warehouse.read_partitions("core5g.session_kpis", [("2026-11-01", "SITE001")]) is None


def test_read_partitions_fills_added_column_with_null(tmp_path):
    # The older partition was written before the mart gained the column p95_latency.
    write_partition(tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": [3]})
    write_partition(
        tmp_path, TABLE, "2026-11-02", "SITE001", {"attempts": [5], "p95_latency": [41.5]}
    )
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    table = warehouse.read_partitions(TABLE, [("2026-11-01", "SITE001"), ("2026-11-02", "SITE001")])

    assert table.column("p95_latency").to_pylist() == [None, 41.5]
    assert table.column("attempts").to_pylist() == [3, 5]


def test_read_partitions_selects_columns(tmp_path):
    write_partition(
        tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": [3], "p95_latency": [12.0]}
    )
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    table = warehouse.read_partitions(
        TABLE, [("2026-11-01", "SITE001")], columns=["site_id", "p95_latency"]
    )

    assert table.to_pylist() == [{"site_id": "SITE001", "p95_latency": 12.0}]


def test_read_partitions_only_partition_columns(tmp_path):
    write_partition(tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": [3, 4]})
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    table = warehouse.read_partitions(TABLE, [("2026-11-01", "SITE001")], columns=["site_id"])

    assert table.to_pylist() == [{"site_id": "SITE001"}, {"site_id": "SITE001"}]


def test_read_partitions_selects_column_older_file_lacks(tmp_path):
    write_partition(tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": [3]})
    write_partition(
        tmp_path, TABLE, "2026-11-02", "SITE001", {"attempts": [5], "p95_latency": [41.5]}
    )
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    table = warehouse.read_partitions(
        TABLE, [("2026-11-01", "SITE001"), ("2026-11-02", "SITE001")], columns=["p95_latency"]
    )

    assert table.column("p95_latency").to_pylist() == [None, 41.5]


def test_read_partitions_widens_integer_types(tmp_path):
    write_partition(
        tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": pa.array([3], pa.int32())}
    )
    write_partition(
        tmp_path, TABLE, "2026-11-02", "SITE001", {"attempts": pa.array([2**40], pa.int64())}
    )
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    table = warehouse.read_partitions(TABLE, [("2026-11-01", "SITE001"), ("2026-11-02", "SITE001")])

    assert table.schema.field("attempts").type == pa.int64()
    assert table.column("attempts").to_pylist() == [3, 2**40]


def test_read_partitions_names_unreadable_file(tmp_path):
    path = write_partition(tmp_path, TABLE, "2026-11-01", "SITE001", {"attempts": [3]})
    path.write_bytes(b"")
    warehouse = WarehouseFiles(warehouse_dir=str(tmp_path))

    with pytest.raises(OSError, match=r"failed to read ORC file .*part-00000\.orc"):
        warehouse.read_partitions(TABLE, [("2026-11-01", "SITE001")])
