"""Submit a rectangle of (date, site) partitions to the Dagster instance as one queued run.

A backfill launched from the Dagster UI is split by Dagster (1.13) into one run per value of
the dimension with fewer keys in the selection. So 30 days x 5 sites becomes 5 runs, and 30
days x 100 sites becomes 30 runs. A run tagged with a partition range covers the whole rectangle,
so this submits the partitions job with those tags; the daemon then runs it like any run.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from dagster import DagsterInstance

from deploy_manager.automation.schedules import PARTITIONS_JOB_NAME
from deploy_manager.pipeline import range_tags
from deploy_manager.settings import PROJECT_ROOT

log = logging.getLogger(__name__)


def launch_command(tags: dict[str, str]) -> list[str]:
    """Return the ``dagster job launch`` command that queues the partitions job with ``tags``."""
    return [
        str(Path(sys.executable).with_name("dagster")),
        "job",
        "launch",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-j",
        PARTITIONS_JOB_NAME,
        "--tags",
        json.dumps(tags),
    ]


def submit_rectangle(
    instance: DagsterInstance, first: date, last: date, sites: Sequence[str] | None = None
) -> int:
    """Queue one run of first..last x sites (every registered site when None) in the instance
    of DAGSTER_HOME; return the exit status of ``dagster job launch``."""
    tags = range_tags(instance, first, last, sites)
    log.info("submitting %s to the Dagster instance", tags)
    return subprocess.run(launch_command(tags), cwd=PROJECT_ROOT, check=False).returncode
