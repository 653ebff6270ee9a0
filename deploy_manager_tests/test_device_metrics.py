"""Device metrics files loaded into a real PostgreSQL database of their own."""

from __future__ import annotations

import gzip
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from deploy_manager.db.connection import connect, drop_database, ensure_database
from deploy_manager.db.migrate import apply_migrations
from deploy_manager.netops.devices.load import ingest_device_metrics
from deploy_manager.netops.devices.metrics import MetricLineError, build_sample

ADMIN_URL = os.environ.get("DM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RAW_TABLES = ("raw.device_metrics", "raw.quarantine", "raw.inventory", "raw.ingested_files")
CSV_HEADER = (
    "device,timestamp,cpu_pct,mem_pct,if_in_errors,if_out_errors,if_in_discards,"
    "if_out_discards,reachable,rtt_ms,packet_loss_pct\n"
)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    name = f"deploy_manager_test_devices_{uuid.uuid4().hex[:12]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    ensure_database(url)
    with connect(url) as conn:
        apply_migrations(conn)
        conn.commit()
    yield url
    drop_database(url)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with connect(database_url) as connection:
        connection.execute(f"TRUNCATE {', '.join(RAW_TABLES)}")
        connection.execute(
            "INSERT INTO raw.inventory (host, site_id, valid_from, source_path) VALUES"
            " ('edge-r1.site104', 'SITE104', '2026-01-01T00:00:00Z', 'inventory.json'),"
            " ('edge-r2.site104', 'SITE104', '2026-01-01T00:00:00Z', 'inventory.json'),"
            " ('edge-r2.site104', 'SITE105', '2026-11-02T12:00:00Z', 'inventory-moved.json')"
        )
        connection.commit()
        yield connection


def sample(device: str, timestamp: str | float, **metrics: object) -> str:
    values = {
        "cpu_pct": 12.5,
        "mem_pct": 41.0,
        "if_in_errors": 3,
        "if_out_errors": 0,
        "if_in_discards": 17,
        "if_out_discards": 0,
        "reachable": True,
        "rtt_ms": 1.8,
        "packet_loss_pct": 0,
    }
    values.update(metrics)
    return json.dumps({"device": device, "timestamp": timestamp, "metrics": values})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def metric_rows(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "SELECT * FROM raw.device_metrics ORDER BY device, sample_time"
        ).fetchall()


def test_jsonl_sample_loads_with_site(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl", [sample("edge-r1.site104", "2026-11-02T08:35:00+05:30")]
    )

    summary = ingest_device_metrics(conn, path)
    row = metric_rows(conn)[0]

    assert summary.rows_inserted == 1
    assert row["site_id"] == "SITE104"
    assert row["sample_time"] == datetime(2026, 11, 2, 3, 5, tzinfo=UTC)
    assert row["event_date"] == date(2026, 11, 2)
    assert row["cpu_pct"] == 12.5
    assert row["if_in_discards"] == 17
    assert row["counter_kind"] == "cumulative"
    assert row["reachable"] is True
    assert row["quality_flags"] == []
    assert row["source_path"] == str(path.resolve())
    assert row["line"] == 1


def test_bad_line_quarantined_rest_loads(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl",
        [
            sample("edge-r1.site104", "2026-11-02T03:00:00Z"),
            '{"device": "edge-r1.site104", "timestamp": ',
            sample("edge-r1.site104", "2026-11-02T03:05:00Z"),
        ],
    )

    summary = ingest_device_metrics(conn, path)
    quarantined = conn.execute(
        "SELECT source_kind, source_path, location, reason, content FROM raw.quarantine"
    ).fetchall()

    assert summary.rows_inserted == 2
    assert summary.quarantined == 1
    assert len(metric_rows(conn)) == 2
    assert quarantined[0][0] == "device_metrics"
    assert quarantined[0][1] == str(path.resolve())
    assert quarantined[0][2] == "line 2"
    assert "not valid JSON" in quarantined[0][3]
    assert quarantined[0][4] == '{"device": "edge-r1.site104", "timestamp": '


def test_device_without_inventory_quarantined(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl",
        [
            sample("lab-r9", "2026-11-02T03:00:00Z"),
            sample("edge-r1.site104", "2025-12-31T23:00:00Z"),
        ],
    )

    summary = ingest_device_metrics(conn, path)
    reasons = [r[0] for r in conn.execute("SELECT reason FROM raw.quarantine ORDER BY location")]

    assert summary.rows_inserted == 0
    assert "device 'lab-r9' is in no inventory snapshot" in reasons[0]
    assert "ingest the inventory, then ingest this file again" in reasons[0]
    assert "no inventory snapshot at or before 2025-12-31T23:00:00+00:00" in reasons[1]


def test_site_from_newest_snapshot(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl",
        [
            sample("edge-r2.site104", "2026-11-02T11:59:59Z"),
            sample("edge-r2.site104", "2026-11-02T12:00:00Z"),
        ],
    )

    ingest_device_metrics(conn, path)
    sites = [row["site_id"] for row in metric_rows(conn)]

    assert sites == ["SITE104", "SITE105"]


def test_csv_layout_loads(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "monitor.csv"
    path.write_text(
        CSV_HEADER
        + "edge-r1.site104,2026-11-02T03:00:00Z,7.5,30,0,0,1,0,up,2.1,0\n"
        + "edge-r2.site104,1793674800,,,,,,,down,,100\n"
    )

    summary = ingest_device_metrics(conn, path)
    rows = metric_rows(conn)

    assert summary.rows_inserted == 2
    assert rows[0]["source_format"] == "csv"
    assert rows[0]["reachable"] is True
    assert rows[0]["mem_pct"] == 30
    assert rows[1]["sample_time"] == datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
    assert rows[1]["site_id"] == "SITE105"
    assert rows[1]["reachable"] is False
    assert rows[1]["cpu_pct"] is None
    assert rows[1]["packet_loss_pct"] == 100


def test_csv_short_line_quarantined(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "monitor.csv"
    path.write_text(CSV_HEADER + "edge-r1.site104,2026-11-02T03:00:00Z,7.5\n")

    summary = ingest_device_metrics(conn, path)
    location, reason = conn.execute("SELECT location, reason FROM raw.quarantine").fetchone()

    assert summary.rows_inserted == 0
    assert location == "line 2"
    assert "line has 3 fields but the header has 11" in reason


def test_out_of_range_values_flagged(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl",
        [
            sample(
                "edge-r1.site104",
                "2026-11-02T03:00:00Z",
                cpu_pct=140,
                if_in_errors=-5,
                mem_pct="n/a",
                reachable=None,
            )
        ],
    )

    ingest_device_metrics(conn, path)
    row = metric_rows(conn)[0]

    assert row["cpu_pct"] is None
    assert row["if_in_errors"] is None
    assert row["mem_pct"] is None
    assert row["reachable"] is True
    assert row["quality_flags"] == [
        "cpu_pct_out_of_range",
        "mem_pct_not_numeric",
        "if_in_errors_negative",
        "reachable_from_packet_loss",
    ]


def test_timestamp_without_offset_rejected() -> None:
    record = {"device": "edge-r1.site104", "timestamp": "2026-11-02T03:00:00"}

    with pytest.raises(MetricLineError, match="has no UTC offset"):
        build_sample(record, {"cpu_pct": 1}, "jsonl", 1)


def test_epoch_milliseconds_rejected() -> None:
    record = {"device": "edge-r1.site104", "timestamp": 1793588400000}

    with pytest.raises(MetricLineError, match="divide milliseconds by 1000"):
        build_sample(record, {"cpu_pct": 1}, "jsonl", 1)


def test_record_without_metrics_rejected() -> None:
    record = {"device": "edge-r1.site104", "timestamp": "2026-11-02T03:00:00Z"}

    with pytest.raises(MetricLineError, match="has no metric"):
        build_sample(record, {"temperature": 40}, "jsonl", 1)


def test_duplicate_samples_in_file(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl",
        [
            sample("edge-r1.site104", "2026-11-02T03:00:00Z"),
            sample("edge-r1.site104", "2026-11-02T03:00:00Z"),
            sample("edge-r1.site104", "2026-11-02T03:00:00Z", cpu_pct=99),
        ],
    )

    summary = ingest_device_metrics(conn, path)
    location, reason = conn.execute("SELECT location, reason FROM raw.quarantine").fetchone()

    assert summary.rows_inserted == 1
    assert summary.duplicates_skipped == 1
    assert location == "line 3"
    assert "first on line 1" in reason
    assert metric_rows(conn)[0]["cpu_pct"] == 12.5


def test_gzip_folder_of_files_loads(conn: psycopg.Connection, tmp_path: Path) -> None:
    with gzip.open(tmp_path / "day1.jsonl.gz", "wt") as stream:
        stream.write(sample("edge-r1.site104", "2026-11-02T03:00:00Z") + "\n")
    write_lines(tmp_path / "day2.ndjson", [sample("edge-r1.site104", "2026-11-03T03:00:00Z")])
    (tmp_path / "notes.txt").write_text("not a metrics file\n")

    summary = ingest_device_metrics(conn, tmp_path)

    assert summary.files == 2
    assert summary.rows_inserted == 2


def test_ingest_twice_changes_nothing(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl",
        [
            sample("edge-r1.site104", "2026-11-02T03:00:00Z"),
            "not json",
            sample("lab-r9", "2026-11-02T03:00:00Z"),
            sample("edge-r2.site104", "2026-11-02T03:00:00Z", cpu_pct=250),
        ],
    )
    tables = ("raw.device_metrics", "raw.quarantine", "raw.ingested_files")

    first = ingest_device_metrics(conn, path)
    before = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in tables}
    second = ingest_device_metrics(conn, path)
    after = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in tables}

    assert first.rows_inserted == 2
    assert first.quarantined == 2
    assert second.rows_inserted == 0
    assert second.quarantined == 0
    assert second.rejected == 2
    for table in tables:
        assert after[table] == before[table], table


def test_utf16_csv_quarantined(conn: psycopg.Connection, tmp_path: Path) -> None:
    text = CSV_HEADER + "edge-r1.site104,2026-11-02T03:00:00Z,12.5,41,3,0,17,0,true,1.8,0\n"
    path = tmp_path / "monitor.csv"
    path.write_bytes(text.encode("utf-16"))
    write_lines(tmp_path / "other.jsonl", [sample("edge-r2.site104", "2026-11-02T03:00:00Z")])

    summary = ingest_device_metrics(conn, tmp_path)
    rows = conn.execute("SELECT source_path, location, reason, content FROM raw.quarantine")
    quarantined = rows.fetchall()

    assert summary.files == 2
    assert [row["device"] for row in metric_rows(conn)] == ["edge-r2.site104"]
    assert len(quarantined) == 1
    assert quarantined[0][0] == str(path.resolve())
    assert quarantined[0][1] == "file"
    assert "file is UTF-16, not UTF-8: convert it to UTF-8" in quarantined[0][2]
    assert quarantined[0][3] == text


def test_latin1_file_loads_and_is_flagged(conn: psycopg.Connection, tmp_path: Path) -> None:
    record = json.loads(sample("edge-r1.site104", "2026-11-02T03:00:00Z"))
    record["location"] = "Montr\u00e9al"
    text = json.dumps(record, ensure_ascii=False) + "\n"
    path = tmp_path / "monitor.jsonl"
    path.write_bytes(text.encode("latin-1"))
    offset = text.encode("latin-1").index(b"\xe9")

    summary = ingest_device_metrics(conn, path)
    quarantined = conn.execute("SELECT location, reason, content FROM raw.quarantine").fetchall()

    assert summary.rows_inserted == 1
    assert len(quarantined) == 1
    assert quarantined[0][0] == "encoding"
    assert f"file is not valid UTF-8 (first invalid byte at offset {offset})" in quarantined[0][1]
    assert quarantined[0][2] == text


def test_corrected_file_replaces_its_rows(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "monitor.jsonl",
        [
            sample("edge-r1.site104", "2026-11-02T03:00:00Z", cpu_pct=250),
            sample("edge-r1.site104", "2026-11-02T03:05:00Z"),
        ],
    )
    other = write_lines(
        tmp_path / "other.jsonl", [sample("edge-r1.site104", "2026-11-02T03:10:00Z")]
    )
    ingest_device_metrics(conn, tmp_path)
    first = {row["sample_time"]: row for row in metric_rows(conn)}
    write_lines(path, [sample("edge-r1.site104", "2026-11-02T03:00:00Z", cpu_pct=25)])

    summary = ingest_device_metrics(conn, path)
    rows = {row["sample_time"]: row for row in metric_rows(conn)}

    assert first[datetime(2026, 11, 2, 3, 0, tzinfo=UTC)]["cpu_pct"] is None
    assert summary.rows_inserted == 1
    assert sorted(rows) == [
        datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 3, 10, tzinfo=UTC),
    ]
    assert rows[datetime(2026, 11, 2, 3, 0, tzinfo=UTC)]["cpu_pct"] == 25
    assert rows[datetime(2026, 11, 2, 3, 10, tzinfo=UTC)]["source_path"] == str(other.resolve())
    assert conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0


def test_landing_metrics_named_relative(conn: psycopg.Connection, tmp_path: Path) -> None:
    from deploy_manager.netops.devices.load import ingest_device_landing

    metrics = tmp_path / "devices" / "metrics"
    metrics.mkdir(parents=True)
    write_lines(
        metrics / "monitor.jsonl",
        [sample("edge-r1.site104", "2026-11-02T03:00:00Z"), "not json"],
    )
    ingest_device_landing(conn, tmp_path)
    write_lines(metrics / "monitor.jsonl", [sample("edge-r1.site104", "2026-11-02T03:00:00Z")])
    second = ingest_device_landing(conn, tmp_path, force=True)
    paths = {row["source_path"] for row in metric_rows(conn)}
    quarantined = conn.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]

    assert paths == {"devices/metrics/monitor.jsonl"}
    assert second.metrics.files == 1
    assert quarantined == 0
