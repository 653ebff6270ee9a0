"""Measure the API's resident memory over the first read of every table of a warehouse.

Imports ``api_service`` from REPO: this checkout by default, or another one, such as a
worktree of an earlier commit, to compare. Reads every table the API serves, as its start-up
does. Prints the resident memory (VmRSS) and its peak (VmHWM) in MiB after the imports and
after the read, with the seconds the read took. Run it once per checkout on the same
warehouse, one at a time on a quiet machine.

    .venv/bin/python scripts/bench_api_memory.py data/bench-api-warehouse --repo ../old
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def memory_mib() -> dict[str, int]:
    figures = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) // 1024
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warehouse", type=Path, help="warehouse folder of the Hive tables")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to import from")
    args = parser.parse_args(argv)
    if not args.warehouse.is_dir():
        raise SystemExit(f"warehouse {args.warehouse} not found: pass an existing folder")
    sys.path.insert(0, str(args.repo.resolve()))
    import pyarrow as pa

    import api_service.app  # noqa: F401  (the imports of the served application)
    from api_service.queries.common import ALL_TABLES
    from api_service.tables import TableStore

    # The memory pool that create_app selects.
    pa.set_memory_pool(pa.system_memory_pool())
    before = memory_mib()
    store = TableStore(args.warehouse, check_seconds=1.0, cache_entries=4096)
    started = time.monotonic()
    snapshots = asyncio.run(store.snapshots(ALL_TABLES))
    result = {
        "module": sys.modules[TableStore.__module__].__file__,
        "after_imports_mib": before,
        "after_read_mib": memory_mib(),
        "read_s": round(time.monotonic() - started, 1),
        "rows_held": sum(0 if s.data is None else s.data.num_rows for s in snapshots.values()),
        "partitions": sum(s.partitions for s in snapshots.values()),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
