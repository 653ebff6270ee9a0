"""Seeded generator of device metrics, configuration backups and deployments for demos.

For N sites x D days it writes, below one output folder:

- ``inventory/inventory-<start>T0000Z.json``: an ``ansible-inventory --list`` snapshot
  with one ``site_<ID>`` group per site and ``site_id`` and ``device_role`` host variables.
- ``metrics/<date>.jsonl``: one sample per device every ``sample_minutes``, in the JSON
  lines layout of ``metrics``. The file also has one truncated line and one sample of a
  device outside the inventory, so an ingest shows its quarantine.
- ``backups/<date>T0300Z/<device>.cfg`` (``layout="folder"``) or a git repository
  ``backups-git`` with one commit per daily collection (``layout="git"``).
- ``golden/<role>.cfg`` and ``golden/roles.csv``.
- ``artifacts/<run_id>/``: ansible-runner artifact folders of the deployments.

Devices per site cycle through three roles: Cisco IOS-XE edge routers, Arista EOS core
switches and Juniper Junos border routers. Every daily backup differs from the previous
one in its volatile lines. On some device-days an Ansible run changes the configuration
between 01:00 and 02:30 UTC, which gives an expected drift at the 03:00 backup. On others
the configuration changes without a run, which gives an unexpected drift. The returned
``GeneratedDevices`` counts both, so a test or benchmark can check the drift table.
The same arguments always write the same files. ``write_device_landing`` puts the same
files into the layout of a landing folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROLES = ("edge-router", "core-switch", "border-router")
_ROLE_PREFIX = {"edge-router": "edge-r", "core-switch": "core-s", "border-router": "border-j"}
_ROLE_VENDOR = {
    "edge-router": "cisco_ios",
    "core-switch": "arista_eos",
    "border-router": "juniper_junos",
}
_BACKUP_HOUR = 3
_PLAYBOOK = "config_push.yml"


@dataclass
class _DeviceState:
    """Intended configuration and health baseline of one device, rendered into its backups."""

    host: str
    site_id: str
    role: str
    ntp_server: str = "192.0.2.10"
    uplink_description: str = "uplink to core"
    vlans: list[int] = field(default_factory=lambda: [100, 200])
    last_change: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    clock_period: int = 17179869
    cpu_base: float = 10.0
    mem_base: float = 40.0
    counters: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    @property
    def hostname(self) -> str:
        return self.host.split(".", 1)[0]


@dataclass(frozen=True)
class GeneratedDeployment:
    """One generated Ansible run: its id, site, start time and the hosts it changed."""

    run_id: str
    site_id: str
    started_at: datetime
    hosts: tuple[str, ...]


@dataclass
class GeneratedDevices:
    """Paths of the generated files and the drift counts that an ingest of them must produce."""

    root: Path
    backup_source: Path
    golden_dir: Path
    inventory: list[tuple[str, str, datetime]] = field(default_factory=list)
    deployments: list[GeneratedDeployment] = field(default_factory=list)
    metrics_samples: int = 0
    bad_metric_lines: int = 0
    backups: int = 0
    volatile_only_changes: int = 0
    expected_drifts: int = 0
    unexpected_drifts: int = 0


def site_ids(sites: int) -> list[str]:
    return [f"SITE{i:03d}" for i in range(1, sites + 1)]


def generate_device_data(
    out_dir: Path | str,
    *,
    sites: int = 3,
    days: int = 7,
    devices_per_site: int = 3,
    start: date = date(2026, 11, 1),
    seed: int = 7,
    sample_minutes: int = 15,
    layout: str = "folder",
    deployment_rate: float = 0.1,
    manual_change_rate: float = 0.03,
) -> GeneratedDevices:
    """Write metrics, backups, golden configurations and deployments for sites x days.

    ``deployment_rate`` and ``manual_change_rate`` are the chances per device and day of a
    change by an Ansible run and of a change without one.
    """
    if sites < 1 or days < 1 or devices_per_site < 1:
        raise ValueError(
            f"sites={sites}, days={days}, devices_per_site={devices_per_site} is invalid: "
            "each must be at least 1"
        )
    if sample_minutes < 1 or 1440 % sample_minutes:
        raise ValueError(
            f"sample_minutes={sample_minutes} is invalid: use a divisor of 1440 such as 5 or 15"
        )
    if layout not in ("folder", "git"):
        raise ValueError(f"layout {layout!r} is invalid: use 'folder' or 'git'")
    root = Path(out_dir)
    rng = random.Random(seed)
    devices = _make_devices(sites, devices_per_site, rng)
    backup_source = root / ("backups" if layout == "folder" else "backups-git")
    result = GeneratedDevices(root=root, backup_source=backup_source, golden_dir=root / "golden")
    valid_from = datetime(start.year, start.month, start.day, tzinfo=UTC)
    result.inventory = [(d.host, d.site_id, valid_from) for d in devices]

    _write_inventory(root / "inventory", devices, valid_from)
    _write_golden(root / "golden")
    if layout == "git":
        _git(backup_source, "init", "-q", "-b", "main")

    for offset in range(days):
        day = start + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        backup_time = midnight + timedelta(hours=_BACKUP_HOUR)
        if offset > 0:
            _change_configs(devices, midnight, rng, result, deployment_rate, manual_change_rate)
        _write_metrics(root / "metrics", devices, midnight, sample_minutes, rng, result)
        _write_backups(backup_source, devices, backup_time, offset, rng, layout)
        result.backups += len(devices)

    for deployment in result.deployments:
        _write_artifacts(root / "artifacts", deployment, rng)
    return result


def write_device_landing(landing: Path | str, **options: Any) -> GeneratedDevices:
    """Generate device data into the layout that the landing ingest reads.

    Metrics, backups and golden configurations go below ``<landing>/devices``, the inventory
    snapshot into ``<landing>/inventory`` and the artifact folders of the deployments into
    ``<landing>/ansible/devices``. ``options`` are the keyword arguments of
    generate_device_data. Files of an earlier call with the same names are replaced.
    """
    landing = Path(landing)
    devices = landing / "devices"
    result = generate_device_data(devices, **options)
    if result.backup_source.name != "backups":
        _replace(result.backup_source, devices / "backups")
        result.backup_source = devices / "backups"
    for source, target in (
        (devices / "inventory", landing / "inventory"),
        (devices / "artifacts", landing / "ansible" / "devices"),
    ):
        target.mkdir(parents=True, exist_ok=True)
        for child in sorted(source.iterdir()) if source.is_dir() else []:
            _replace(child, target / child.name)
        shutil.rmtree(source, ignore_errors=True)
    return result


def _replace(source: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    source.replace(target)


def _make_devices(sites: int, per_site: int, rng: random.Random) -> list[_DeviceState]:
    devices = []
    for site_id in site_ids(sites):
        counts: dict[str, int] = {}
        for index in range(per_site):
            role = ROLES[index % len(ROLES)]
            counts[role] = counts.get(role, 0) + 1
            host = f"{_ROLE_PREFIX[role]}{counts[role]}.{site_id.lower()}"
            devices.append(
                _DeviceState(
                    host,
                    site_id,
                    role,
                    cpu_base=rng.uniform(5, 35),
                    mem_base=rng.uniform(25, 60),
                )
            )
    return devices


def _change_configs(
    devices: list[_DeviceState],
    midnight: datetime,
    rng: random.Random,
    result: GeneratedDevices,
    deployment_rate: float,
    manual_change_rate: float,
) -> None:
    """Apply the day's deployments and manual changes, before its 03:00 backup."""
    deployed: dict[str, list[_DeviceState]] = {}
    for device in devices:
        roll = rng.random()
        if roll < deployment_rate:
            deployed.setdefault(device.site_id, []).append(device)
        elif roll < deployment_rate + manual_change_rate:
            choices = [
                f"uplink to core ({name})"
                for name in ("ring", "spare", "lab")
                if f"uplink to core ({name})" != device.uplink_description
            ]
            device.uplink_description = rng.choice(choices)
            device.last_change = midnight + timedelta(minutes=rng.randint(10, 170))
            result.unexpected_drifts += 1
        else:
            result.volatile_only_changes += 1
    for site_id in sorted(deployed):
        started_at = midnight + timedelta(hours=1, minutes=rng.randint(0, 90))
        hosts = []
        for device in deployed[site_id]:
            if rng.random() < 0.5:
                device.vlans.append(max(device.vlans) + 100)
            else:
                servers = [f"192.0.2.{n}" for n in range(11, 31)]
                device.ntp_server = rng.choice([s for s in servers if s != device.ntp_server])
            device.last_change = started_at + timedelta(seconds=rng.randint(5, 60))
            hosts.append(device.host)
            result.expected_drifts += 1
        run_id = _random_uuid(rng)
        result.deployments.append(GeneratedDeployment(run_id, site_id, started_at, tuple(hosts)))


def render_config(device: _DeviceState, backup_time: datetime, clock_period: int) -> str:
    """Render a device's backup as its vendor's running configuration."""
    vendor = _ROLE_VENDOR[device.role]
    if vendor == "cisco_ios":
        return _render_ios(device, backup_time, clock_period)
    if vendor == "arista_eos":
        return _render_eos(device, backup_time)
    return _render_junos(device, backup_time)


def _render_ios(device: _DeviceState, backup_time: datetime, clock_period: int) -> str:
    vlans = "".join(f"vlan {v}\n name users-{v}\n!\n" for v in device.vlans)
    body = (
        "!\nversion 17.9\nservice timestamps log datetime msec\n"
        f"hostname {device.hostname}\n!\nsnmp-server location {device.site_id}\n"
        f"ntp clock-period {clock_period}\nntp server {device.ntp_server}\n!\n{vlans}"
        f"interface GigabitEthernet0/0/0\n description {device.uplink_description}\n!\nend\n"
    )
    changed = device.last_change.strftime("%H:%M:%S UTC %a %b %d %Y")
    saved = backup_time.strftime("%H:%M:%S UTC %a %b %d %Y")
    header = (
        f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n!\n"
        f"! Last configuration change at {changed} by netops\n"
        f"! NVRAM config last updated at {saved} by netops\n"
    )
    return header + body


def _render_eos(device: _DeviceState, backup_time: datetime) -> str:
    vlans = "".join(f"vlan {v}\n   name users-{v}\n!\n" for v in device.vlans)
    modified = backup_time.strftime("%a %b %d %H:%M:%S %Y")
    return (
        "! Command: show running-config\n"
        f"! device: {device.hostname} (DCS-7050SX3-48YC8, EOS-4.30.1F)\n"
        f"! Startup-config last modified at {modified} by admin\n!\n"
        f"hostname {device.hostname}\n!\nsnmp-server location {device.site_id}\n"
        f"ntp server {device.ntp_server}\n!\n{vlans}"
        f"interface Ethernet1\n   description {device.uplink_description}\n!\nend\n"
    )


def _render_junos(device: _DeviceState, backup_time: datetime) -> str:
    vlans = "".join(f"    v{v} {{\n        vlan-id {v};\n    }}\n" for v in device.vlans)
    # A daily health-check script commits on every router, so the commit line changes daily.
    committed = (backup_time - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"## Last commit: {committed} by netops\nversion 21.4R3.15;\n"
        f"system {{\n    host-name {device.hostname};\n    ntp {{\n"
        f"        server {device.ntp_server};\n    }}\n}}\n"
        f"snmp {{\n    location {device.site_id};\n}}\n"
        f"vlans {{\n{vlans}}}\n"
        f'interfaces {{\n    ge-0/0/0 {{\n        description "{device.uplink_description}";\n'
        "    }\n}\n"
    )


def _write_golden(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["device,role"]
    for role in ROLES:
        rows.append(f"{_ROLE_PREFIX[role]}*,{role}")
        template = _DeviceState("{{ hostname }}", "{{ site_id }}", role)
        text = render_config(template, template.last_change, template.clock_period)
        (folder / f"{role}.cfg").write_text(text)
    (folder / "roles.csv").write_text("\n".join(rows) + "\n")


def _write_inventory(folder: Path, devices: list[_DeviceState], valid_from: datetime) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    groups: dict[str, dict[str, list[str]]] = {}
    hostvars = {}
    for device in devices:
        groups.setdefault(f"site_{device.site_id}", {"hosts": []})["hosts"].append(device.host)
        hostvars[device.host] = {"site_id": device.site_id, "device_role": device.role}
    inventory = {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["ungrouped", *sorted(groups)]},
        "ungrouped": {"hosts": []},
        **dict(sorted(groups.items())),
    }
    name = f"inventory-{valid_from.strftime('%Y-%m-%dT%H%MZ')}.json"
    (folder / name).write_text(json.dumps(inventory, indent=2) + "\n")


def _write_metrics(
    folder: Path,
    devices: list[_DeviceState],
    midnight: datetime,
    sample_minutes: int,
    rng: random.Random,
    result: GeneratedDevices,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in range(1440 // sample_minutes):
        when = midnight + timedelta(minutes=step * sample_minutes)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        for device in devices:
            lines.append(json.dumps(_sample(device, stamp, sample_minutes, rng)))
    lines.insert(len(lines) // 2, lines[0][: len(lines[0]) // 2])
    lines.append(
        json.dumps(
            {"device": "lab-r9", "timestamp": midnight.isoformat(), "metrics": {"cpu_pct": 3}}
        )
    )
    result.metrics_samples += len(lines) - 2
    result.bad_metric_lines += 2
    (folder / f"{midnight.date().isoformat()}.jsonl").write_text("\n".join(lines) + "\n")


def _sample(
    device: _DeviceState, stamp: str, sample_minutes: int, rng: random.Random
) -> dict[str, object]:
    if rng.random() < 0.002:
        metrics: dict[str, object] = {"reachable": False, "packet_loss_pct": 100}
        return {"device": device.host, "timestamp": stamp, "metrics": metrics}
    for index, rate in enumerate((0.02, 0.005, 0.05, 0.01)):
        device.counters[index] += int(rng.expovariate(1 / (rate * sample_minutes * 60 + 1e-9)))
    cpu = device.cpu_base + rng.gauss(0, 3) + (40 if rng.random() < 0.01 else 0)
    metrics = {
        "cpu_pct": round(min(max(cpu, 0.0), 100.0), 1),
        "mem_pct": round(min(max(device.mem_base + rng.gauss(0, 1), 0.0), 100.0), 1),
        "if_in_errors": device.counters[0],
        "if_out_errors": device.counters[1],
        "if_in_discards": device.counters[2],
        "if_out_discards": device.counters[3],
        "reachable": True,
        "rtt_ms": round(rng.uniform(0.8, 6.0), 2),
        "packet_loss_pct": 0 if rng.random() < 0.98 else rng.choice([1, 2, 5]),
    }
    return {"device": device.host, "timestamp": stamp, "metrics": metrics}


def _write_backups(
    source: Path,
    devices: list[_DeviceState],
    backup_time: datetime,
    offset: int,
    rng: random.Random,
    layout: str,
) -> None:
    folder = source
    if layout == "folder":
        folder = source / backup_time.strftime("%Y-%m-%dT%H%MZ")
    for device in devices:
        # The NTP clock period drifts every day, so each backup differs in a volatile line.
        device.clock_period += rng.choice([-2, -1, 1, 2])
        site_folder = folder / device.site_id.lower()
        site_folder.mkdir(parents=True, exist_ok=True)
        text = render_config(device, backup_time + timedelta(seconds=offset), device.clock_period)
        (site_folder / f"{device.host}.cfg").write_text(text)
    if layout == "git":
        _git(source, "add", "-A")
        _git(
            source, "commit", "-q", "-m", f"collection {backup_time.isoformat()}", when=backup_time
        )


def _git(repo: Path, *args: str, when: datetime | None = None) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Backup collector",
            "-c",
            "user.email=backups@deploy-manager.local",
            *args,
        ],
        check=True,
        capture_output=True,
        env=env,
    )


def _random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _run_events(
    deployment: GeneratedDeployment, rng: random.Random
) -> list[tuple[str, dict[str, object]]]:
    """Return the event names and event_data of one successful run that changed its hosts."""
    playbook_uuid = _random_uuid(rng)
    task_uuid = _random_uuid(rng)
    common = {"playbook": _PLAYBOOK, "playbook_uuid": playbook_uuid}
    play = {**common, "play": "Push site configuration", "play_uuid": playbook_uuid}
    task = {**play, "task": "Push configuration", "task_uuid": task_uuid}
    events: list[tuple[str, dict[str, object]]] = [
        ("playbook_on_start", dict(common)),
        ("playbook_on_play_start", dict(play)),
        ("playbook_on_task_start", dict(task)),
    ]
    for host in deployment.hosts:
        result = {
            **task,
            "task_action": "ansible.netcommon.cli_config",
            "host": host,
            "res": {"changed": True},
            "duration": round(rng.uniform(4, 20), 3),
        }
        events.append(("runner_on_ok", result))

    counts = {host: 1 for host in deployment.hosts}
    stats = {"ok": counts, "changed": counts, "processed": counts}
    for key in ("failures", "dark", "skipped", "rescued", "ignored"):
        stats[key] = {}
    events.append(("playbook_on_stats", {**common, **stats}))
    return events


def _write_artifacts(folder: Path, deployment: GeneratedDeployment, rng: random.Random) -> None:
    """Write the ansible-runner artifact folder of one deployment."""
    run_folder = folder / deployment.run_id
    events_folder = run_folder / "job_events"
    events_folder.mkdir(parents=True, exist_ok=True)
    clock = deployment.started_at
    for counter, (name, data) in enumerate(_run_events(deployment, rng), start=1):
        clock += timedelta(seconds=rng.uniform(0.5, 8))
        event_uuid = _random_uuid(rng)
        event = {
            "uuid": event_uuid,
            "counter": counter,
            "event": name,
            "event_data": data,
            "stdout": "",
            # Older ansible-runner releases write created in UTC without an offset.
            "created": clock.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        }
        (events_folder / f"{counter}-{event_uuid}.json").write_text(json.dumps(event))

    (run_folder / "rc").write_text("0")
    (run_folder / "status").write_text("successful")
    (run_folder / "stdout").write_text(f"PLAY [Push site configuration] {'*' * 40}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out_dir", type=Path, help="folder to write into")
    parser.add_argument("--sites", type=int, default=3, help="number of sites")
    parser.add_argument("--days", type=int, default=7, help="number of days")
    parser.add_argument("--devices-per-site", type=int, default=3, help="devices per site")
    parser.add_argument(
        "--start", type=date.fromisoformat, default=date(2026, 11, 1), help="first day, YYYY-MM-DD"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--sample-minutes", type=int, default=15, help="minutes between metric samples"
    )
    parser.add_argument(
        "--layout", choices=("folder", "git"), default="folder", help="backup layout"
    )
    args = parser.parse_args(argv)

    result = generate_device_data(
        args.out_dir,
        sites=args.sites,
        days=args.days,
        devices_per_site=args.devices_per_site,
        start=args.start,
        seed=args.seed,
        sample_minutes=args.sample_minutes,
        layout=args.layout,
    )
    print(
        f"wrote {result.metrics_samples} samples, {result.backups} backups and "
        f"{len(result.deployments)} deployments to {result.root}: "
        f"{result.expected_drifts} expected and {result.unexpected_drifts} unexpected drifts"
    )


if __name__ == "__main__":
    main()
