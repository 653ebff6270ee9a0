"""CPU time of the Spark JVM's threads, grouped by thread name, to see where a run's JVM time
goes (JIT compilers, garbage collector, task threads).

It polls /proc every half second until the Spark JVMs it has seen have exited, then prints
each JVM's CPU seconds by thread name from the last poll. A thread that ended before that
poll is missing, so the figures are lower bounds. Start it, then the run:

    .venv/bin/python scripts/jvm_thread_cpu.py > threads.txt &
    .venv/bin/python scripts/bench_pipeline.py --sites 100 --days 1 --registrations 1000 \\
        --sample 1 --no-baselines
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Thread names end in a number per pool member ("GC Thread#1"). The kernel keeps the first 15
# characters of a name, so "C2 CompilerThread0" reads "C2 CompilerThre".
_MEMBER_NUMBER = re.compile(r"[-#]?\d+$")


def spark_jvm_pids() -> list[str]:
    """Return the process ids of the running Spark JVMs (SparkSubmit in the command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if arguments[0].endswith(b"java") and b"org.apache.spark.deploy.SparkSubmit" in arguments:
            pids.append(entry.name)
    return pids


def thread_cpu(pid: str) -> Counter[str]:
    """Return the CPU seconds of the live threads of ``pid`` by thread name."""
    seconds: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = _MEMBER_NUMBER.sub("", stat[stat.index("(") + 1 : stat.rindex(")")]).strip()
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime and stime are fields 14 and 15 of proc(5); fields[0] here is field 3.
        seconds[name] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seconds


def main() -> int:
    last: dict[str, Counter[str]] = {}
    while True:
        pids = spark_jvm_pids()
        if not pids and last:
            break
        for pid in pids:
            try:
                last[pid] = thread_cpu(pid)
            except OSError:
                # The JVM exited between the listing and the read.
                continue
        time.sleep(0.5)
    for pid, seconds in last.items():
        print(f"JVM {pid}: {sum(seconds.values()):.1f} CPU s in its live threads")
        for name, cpu in seconds.most_common(12):
            print(f"  {name:32s} {cpu:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
