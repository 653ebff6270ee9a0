"""Time the 5G core parsers alone on files of a generated landing folder, without PostgreSQL.

Each kind of file is timed apart: Open5GS AMF and SMF logs, CHF CDRs in JSON Lines and CSV,
and Prometheus scrapes. The script parses the same few files of each kind with
``parse_landing_file``, as a parse worker does (decoding, parsing, pseudonymising and encoding
the COPY rows). It prints the least CPU time of ``--repeat`` rounds. Run it once with this
checkout and once with ``PYTHONPATH`` set to an exported copy of another revision's
``deploy_manager`` to compare the two on one machine state.

Usage, on a folder the 5G core generator writes::

    .venv/bin/python -m deploy_manager.core5g.sources.generator data/parse-landing \
        --sites 3 --days 1 --registrations 1000 --ues 250
    .venv/bin/python scripts/bench_parse.py data/parse-landing --sites 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

KINDS = ("amf", "smf", "cdr_json", "cdr_csv", "prometheus")


def files_of(folder: Path, kind: str, sites: int) -> list[str]:
    """Return the relative paths of the files of ``kind`` at the first sites that have them."""
    patterns = {
        "amf": "*/amf-1/*.log",
        "smf": "*/smf-1/*.log",
        "cdr_json": "*/cdr/*.jsonl",
        "cdr_csv": "*/cdr/*.csv",
        "prometheus": "*/metrics/*.prom",
    }
    found = sorted(p.relative_to(folder).as_posix() for p in folder.glob(patterns[kind]))
    chosen_sites = sorted({path.split("/", 1)[0] for path in found})[:sites]
    return [path for path in found if path.split("/", 1)[0] in chosen_sites]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="5G core landing folder with sources.json")
    parser.add_argument("--sites", type=int, default=3, help="sites whose files are parsed")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the least is printed")
    args = parser.parse_args()

    from deploy_manager.core5g.parse import parse_landing_file
    from deploy_manager.core5g.sources.config import load_sources_config
    from deploy_manager.ingest.pseudonymise import Pseudonymiser

    config = load_sources_config(args.folder / "sources.json")
    for kind in KINDS:
        jobs = [
            ((args.folder / path).read_bytes(), path, config.match(path))
            for path in files_of(args.folder, kind, args.sites)
        ]
        if not jobs:
            continue
        rounds = []
        for _ in range(args.repeat):
            # A new pseudonymiser per round, so its caches start empty as in a new ingest.
            pseudonymiser = Pseudonymiser(b"bench-" + b"0" * 32)
            started = time.process_time()
            for data, path, source in jobs:
                parse_landing_file(data, "", path, source, pseudonymiser, 10.0)
            rounds.append(time.process_time() - started)
        print(f"{kind}: {len(jobs)} files, {min(rounds):.3f} CPU s (least of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
