"""Deterministic generator of ansible-runner artifact folders and inventory snapshots.

It writes what ansible-runner writes (``status``, ``rc``, ``stdout``, one JSON file per event
in ``job_events/``), with the same event names and keys, for N sites x D days. The same seed
gives the same files. Used by the demo for the days before today and by the benchmarks.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PLAYBOOKS = {
    "deploy_edge.yml": ["Render config", "Push config", "Validate BGP", "Save config"],
    "upgrade_firmware.yml": ["Check free space", "Stage image", "Activate image", "Verify version"],
    "rotate_certs.yml": ["Issue certificate", "Install certificate", "Reload services"],
}

# Error results as modules return them; placeholders are filled per host.
ERRORS = [
    {"msg": "non-zero return code", "rc": 1, "stderr": "image checksum mismatch on slot {n}"},
    {"msg": "Timeout (12s) waiting for privilege escalation prompt: "},
    {
        "msg": "non-zero return code",
        "rc": 2,
        "stderr": "% Invalid input detected at '^' marker. line {n}",
    },
    {"msg": "Could not find or access '/srv/configs/{host}/running.cfg'"},
    {"msg": "BGP neighbor 10.{n}.0.1 not established after 120 seconds"},
    {
        "msg": "MODULE FAILURE\nSee stdout/stderr for the exact error",
        "rc": 1,
        "module_stderr": "Traceback: ConnectionResetError: [Errno 104] Connection reset by peer",
    },
]
UNREACHABLE_MSG = (
    "Failed to connect to the host via ssh: ssh: connect to host {ip} port 22: Connection timed out"
)


@dataclass(frozen=True)
class GeneratedRun:
    ident: str
    site_id: str
    playbook: str
    status: str
    events: int


def site_ids(count: int) -> list[str]:
    return [f"SITE{index:03d}" for index in range(1, count + 1)]


def hosts_of(site_id: str, per_site: int) -> list[str]:
    return [f"edge-r{index}.{site_id.lower()}" for index in range(1, per_site + 1)]


def write_inventory(path: Path, sites: list[str], hosts_per_site: int) -> None:
    """Write an ``ansible-inventory --list`` snapshot with one ``site_<ID>`` group per site."""
    listing: dict = {"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}}
    for site in sites:
        group = f"site_{site}"
        listing["all"]["children"].append(group)
        listing[group] = {"hosts": hosts_of(site, hosts_per_site)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(listing, indent=1), encoding="utf-8")


class _RunWriter:
    """Collects the events of one run with increasing counters and times."""

    def __init__(self, rng: random.Random, ident: str, playbook: str, start: datetime) -> None:
        self.rng = rng
        self.ident = ident
        self.playbook = playbook
        self.clock = start
        self.events: list[dict] = []
        self.playbook_uuid = str(uuid.UUID(int=rng.getrandbits(128)))

    def add(self, event: str, data: dict, seconds: float = 0.01) -> dict:
        self.clock += timedelta(seconds=seconds)
        record = {
            "uuid": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "counter": len(self.events) + 1,
            "event": event,
            "runner_ident": self.ident,
            "created": self.clock.isoformat(),
            "stdout": "",
            "event_data": {"playbook": self.playbook, "playbook_uuid": self.playbook_uuid, **data},
        }
        self.events.append(record)
        return record


def _generate_run(
    rng: random.Random,
    ident: str,
    site: str,
    hosts: list[str],
    playbook: str,
    start: datetime,
    failure_rate: float,
) -> tuple[_RunWriter, str, int]:
    writer = _RunWriter(rng, ident, playbook, start)
    writer.add("playbook_on_start", {})
    play_uuid = str(uuid.UUID(int=rng.getrandbits(128)))
    writer.add("playbook_on_play_start", {"play": f"{playbook} at {site}", "play_uuid": play_uuid})
    counts = {
        key: {} for key in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
    }
    active = list(hosts)
    for task_index, task in enumerate(PLAYBOOKS[playbook]):
        task_uuid = str(uuid.UUID(int=rng.getrandbits(128)))
        base = {
            "play": f"{playbook} at {site}",
            "play_uuid": play_uuid,
            "task": task,
            "task_uuid": task_uuid,
            "task_action": "ansible.builtin.command",
        }
        writer.add("playbook_on_task_start", base)
        for host in list(active):
            writer.add("runner_on_start", {**base, "host": host})
            duration = round(rng.uniform(0.2, 6.0), 3)
            roll = rng.random()
            data = {**base, "host": host, "duration": duration}
            if task_index == 0 and roll < failure_rate / 4:
                ip = f"192.0.2.{rng.randint(1, 254)}"
                data["res"] = {
                    "unreachable": True,
                    "changed": False,
                    "msg": UNREACHABLE_MSG.format(ip=ip),
                }
                writer.add("runner_on_unreachable", data, duration)
                counts["dark"][host] = counts["dark"].get(host, 0) + 1
                active.remove(host)
            elif roll < failure_rate:
                error = {
                    k: v.format(n=rng.randint(1, 9), host=host) if isinstance(v, str) else v
                    for k, v in rng.choice(ERRORS).items()
                }
                data["res"] = {"failed": True, "changed": False, **error}
                ignored = rng.random() < 0.2
                if ignored:
                    data["ignore_errors"] = True
                writer.add("runner_on_failed", data, duration)
                key = "ignored" if ignored else "failures"
                counts[key][host] = counts[key].get(host, 0) + 1
                if not ignored:
                    active.remove(host)
            elif roll < failure_rate + 0.05:
                data["res"] = {"changed": False, "skipped": True}
                writer.add("runner_on_skipped", data, duration)
                counts["skipped"][host] = counts["skipped"].get(host, 0) + 1
            else:
                changed = rng.random() < 0.3
                data["res"] = {"changed": changed, "rc": 0, "stdout": "", "stderr": ""}
                writer.add("runner_on_ok", data, duration)
                counts["ok"][host] = counts["ok"].get(host, 0) + 1
                if changed:
                    counts["changed"][host] = counts["changed"].get(host, 0) + 1
    failed = any(counts["failures"].values()) or any(counts["dark"].values())
    rc = 0
    if counts["dark"]:
        rc = 4
    elif failed:
        rc = 2
    writer.add("playbook_on_stats", {**counts, "processed": dict.fromkeys(hosts, 1)})
    return writer, ("failed" if failed else "successful"), rc


def write_artifacts(
    root: Path,
    sites: list[str],
    days: list[date],
    *,
    hosts_per_site: int = 4,
    runs_per_site_day: int = 2,
    failure_rate: float = 0.015,
    seed: int = 7,
) -> list[GeneratedRun]:
    """Write artifact folders ``root/<ident>/`` for every site and day; returns what it wrote.

    About 1 run in 40 times out (status ``timeout``, no stats event), the rest finish.
    """
    rng = random.Random(seed)
    written: list[GeneratedRun] = []
    for day in days:
        for site in sites:
            hosts = hosts_of(site, hosts_per_site)
            for run_index in range(runs_per_site_day):
                playbook = rng.choice(sorted(PLAYBOOKS))
                ident = f"gen-{day.isoformat()}-{site}-{run_index}"
                start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                    hours=rng.randint(1, 21), minutes=rng.randint(0, 59)
                )
                writer, status, rc = _generate_run(
                    rng, ident, site, hosts, playbook, start, failure_rate
                )
                events = writer.events
                rc_text = str(rc)
                if rng.random() < 0.025:
                    events = events[: len(events) // 2]
                    status, rc_text = "timeout", "254"
                folder = root / ident
                (folder / "job_events").mkdir(parents=True, exist_ok=True)
                (folder / "status").write_text(status)
                (folder / "rc").write_text(rc_text)
                (folder / "stdout").write_text(f"PLAY [{playbook} at {site}]\n")
                for event in events:
                    name = f"{event['counter']}-{event['uuid']}.json"
                    (folder / "job_events" / name).write_text(json.dumps(event))
                written.append(GeneratedRun(ident, site, playbook, status, len(events)))
    return written
