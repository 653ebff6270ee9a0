"""Check that the ingest of this checkout writes the same raw tables as a git revision.

One run of this script ingests one landing folder twice with each version (this checkout and
the package of ``--baseline-ref``, exported with ``git archive``), each in a new process and
a new database, as the ``landing_ingest`` asset does without Dagster. After each ingest it
dumps every table of the ``raw`` schema, sorted, without the columns PostgreSQL fills in
(serial ids and ``now()`` times). It then reports:

- tables whose dumps differ between the two versions after the first ingest;
- tables the second ingest changed, for either version (an ingest must be idempotent).

Usage::

    .venv/bin/python scripts/compare_ingest.py LANDING --baseline-ref main

``--database-prefix`` names the databases (default ``compare_ingest``); they are dropped at
the end unless ``--keep`` is given. The exit status is 1 when any table differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_ingest import export_package

SERVER_URL = os.environ.get("DM_BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")


def dump_raw_tables(conn, folder: Path) -> None:
    """Write each raw table, sorted, to ``<folder>/<table>.tsv`` in COPY text format."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'raw' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
    ]
    for table in tables:
        columns = [
            name
            for name, default in conn.execute(
                "SELECT column_name, column_default FROM information_schema.columns"
                " WHERE table_schema = 'raw' AND table_name = %s ORDER BY ordinal_position",
                (table,),
            )
            if not default or ("now()" not in default and "nextval(" not in default)
        ]
        listed = ", ".join(f'"{name}"' for name in columns)
        order = ", ".join(str(position) for position in range(1, len(columns) + 1))
        statement = f'COPY (SELECT {listed} FROM raw."{table}" ORDER BY {order}) TO STDOUT'
        with (
            (folder / f"{table}.tsv").open("wb") as out,
            conn.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for chunk in copy:
                out.write(chunk)


def ingest_and_dump(landing: Path, database_url: str, out: Path) -> None:
    """Ingest ``landing`` twice into a new database, dumping the raw tables after each."""
    from deploy_manager.core5g.landing import ingest_core5g_landing
    from deploy_manager.db.connection import connect, drop_database, ensure_database
    from deploy_manager.db.migrate import apply_migrations
    from deploy_manager.netops.devices.load import ingest_device_landing
    from deploy_manager.netops.load import ingest_landing

    drop_database(database_url)
    ensure_database(database_url)
    with connect(database_url) as conn:
        apply_migrations(conn)
        conn.commit()
        for name in ("first", "second"):
            ingest_landing(conn, landing)
            ingest_device_landing(conn, landing)
            conn.commit()
            ingest_core5g_landing(conn, landing)
            conn.commit()
            dump_raw_tables(conn, out / name)
            conn.commit()


def _run_version(
    source: Path | None, landing: Path, database_url: str, out: Path, keep: bool
) -> None:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(landing)]
    command += ["--database-url", database_url, "--out", str(out)]
    try:
        subprocess.run(command, env=env, check=True)
    finally:
        if not keep:
            from deploy_manager.db.connection import drop_database

            drop_database(database_url)


def _differences(left: Path, right: Path) -> list[str]:
    names = sorted({p.name for p in left.iterdir()} | {p.name for p in right.iterdir()})
    found = []
    for name in names:
        a, b = left / name, right / name
        if not a.exists() or not b.exists():
            found.append(f"{name}: only in {'right' if not a.exists() else 'left'}")
            continue
        if a.read_bytes() != b.read_bytes():
            lines_a = a.read_bytes().splitlines()
            lines_b = b.read_bytes().splitlines()
            first = next(
                (i for i, (x, y) in enumerate(zip(lines_a, lines_b, strict=False)) if x != y),
                min(len(lines_a), len(lines_b)),
            )
            found.append(
                f"{name}: {len(lines_a)} against {len(lines_b)} rows, first difference at row"
                f" {first + 1}:\n  {lines_a[first : first + 1]}\n  {lines_b[first : first + 1]}"
            )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--database-prefix", default="compare_ingest")
    parser.add_argument("--workdir", type=Path, help="where the dumps go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DM_PSEUDONYM_KEY", "bench-" + "0" * 32)
    landing = args.landing.resolve()
    if args.child:
        ingest_and_dump(landing, args.database_url, args.out)
        return 0

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="compare-ingest-"))).resolve()
    source = export_package(args.baseline_ref, workdir)
    prefix = f"{SERVER_URL}/{args.database_prefix}_{os.getpid()}"
    _run_version(None, landing, f"{prefix}_current", workdir / "current", args.keep)
    _run_version(source, landing, f"{prefix}_baseline", workdir / "baseline", args.keep)

    problems = []
    for label, left, right in (
        (f"current against {args.baseline_ref}", "current/first", "baseline/first"),
        ("current, second ingest against first", "current/first", "current/second"),
        (f"{args.baseline_ref}, second ingest against first", "baseline/first", "baseline/second"),
    ):
        found = _differences(workdir / left, workdir / right)
        print(f"{label}: {'identical' if not found else f'{len(found)} tables differ'}")
        for line in found:
            print(f"  {line}")
        problems += found
    rows = {
        p.stem: sum(1 for _ in p.open("rb")) for p in sorted((workdir / "current/first").iterdir())
    }
    print(f"rows per raw table: {rows}")
    print(f"dumps in {workdir}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
