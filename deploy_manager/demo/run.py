"""The main job: real ansible-runner runs for today, generated runs, device metrics, config
backups and Open5GS 5G core data for the days before, ingested and materialized through
Dagster, then the KPIs and health score per site printed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

from deploy_manager.demo.core5g import (
    ensure_pseudonym_key,
    print_core5g_kpis,
    write_core5g_demo_landing,
)
from deploy_manager.netops.devices.generator import write_device_landing
from deploy_manager.netops.generator import hosts_of, site_ids, write_artifacts
from deploy_manager.settings import Settings

DEMO_SITES = 4
HOSTS_PER_SITE = 4
# Reached over ssh on a closed loopback port, so Ansible reports it unreachable.
UNREACHABLE_HOST = "edge-r5.site003"


def _progress(step: int, total: int, text: str) -> None:
    print(f"[{step}/{total}] {text}", flush=True)


def write_demo_inventory(runner_inventory: Path, snapshot: Path, sites: list[str]) -> None:
    """Write the demo inventory for ansible-runner, and its ``ansible-inventory --list``
    snapshot for the landing folder, as operators export it."""
    groups: dict = {}
    for site in sites:
        groups[f"site_{site}"] = {
            "hosts": {
                host: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
                for host in hosts_of(site, HOSTS_PER_SITE)
            }
        }
    if "SITE003" in sites:
        groups["site_SITE003"]["hosts"][UNREACHABLE_HOST] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": 1,
            "ansible_connection": "ssh",
            "ansible_ssh_common_args": "-o ConnectTimeout=3",
        }
    runner_inventory.parent.mkdir(parents=True, exist_ok=True)
    # The YAML inventory plugin reads this JSON, which is also valid YAML.
    runner_inventory.write_text(json.dumps({"all": {"children": groups}}, indent=1))
    binary = Path(sys.executable).with_name("ansible-inventory")
    listing = subprocess.run(
        [str(binary), "-i", str(runner_inventory), "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.write_text(listing, encoding="utf-8")


def run_real_playbooks(work_dir: Path, artifact_dir: Path, inventory: Path) -> list[str]:
    """Run the demo playbooks with ansible-runner; returns the idents written."""
    import ansible_runner

    project = work_dir / "project"
    project.mkdir(parents=True, exist_ok=True)
    playbooks = resources.files("deploy_manager.demo") / "playbooks"
    names = sorted(p.name for p in playbooks.iterdir() if p.name.endswith(".yml"))
    for name in names:
        (project / name).write_text((playbooks / name).read_text(encoding="utf-8"))
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_FORKS": "8",
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    idents = []
    for name in names:
        ident = f"demo-{stamp}-{name.removesuffix('.yml')}"
        runner = ansible_runner.run(
            private_data_dir=str(work_dir),
            artifact_dir=str(artifact_dir),
            playbook=name,
            inventory=str(inventory),
            ident=ident,
            envvars=env,
            quiet=True,
        )
        print(f"      {name}: status {runner.status}, rc {runner.rc}", flush=True)
        idents.append(ident)
    return idents


def print_site_kpis(spark, first: date, last: date) -> None:
    from pyspark.sql import functions as F

    rows = (
        spark.table("kpi.site_health_daily")
        .where(F.col("date").between(first, last))
        .groupBy("site_id")
        .agg(
            F.sum("total_executions").alias("runs"),
            F.sum("successful").alias("ok"),
            F.sum("failed").alias("failed"),
            F.sum("incomplete").alias("incomplete"),
            F.sum("failure_count").alias("failures"),
            F.avg("health_score").alias("health"),
        )
        .orderBy("site_id")
        .collect()
    )
    print(f"\nDeployment KPIs per site, {first} to {last}:")
    print(
        f"{'site':<10}{'runs':>6}{'ok':>6}{'failed':>8}{'incompl.':>10}{'success %':>11}"
        f"{'failures':>10}{'health':>8}"
    )
    for row in rows:
        finished = row["ok"] + row["failed"]
        success = f"{100.0 * row['ok'] / finished:.1f}" if finished else "-"
        health = f"{row['health']:.1f}" if row["health"] is not None else "-"
        print(
            f"{row['site_id']:<10}{row['runs']:>6}{row['ok']:>6}{row['failed']:>8}"
            f"{row['incomplete']:>10}{success:>11}{row['failures']:>10}{health:>8}"
        )
    print("health: mean daily site health score, 0 to 100 (see the README, 'Site health score')")


def run_demo(settings: Settings, days: int = 3, fresh: bool = True) -> int:
    """Run the main job end to end; returns a process exit code."""
    from dagster import DagsterInstance

    from deploy_manager.definitions import build_definitions
    from deploy_manager.pipeline import ingest, materialize_rectangle

    total = 7
    started = time.monotonic()
    landing = settings.landing_dir
    if fresh and landing.exists():
        shutil.rmtree(landing)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days)
    sites = site_ids(DEMO_SITES)

    _progress(1, total, f"writing the inventory of {len(sites)} sites to {landing / 'inventory'}")
    inventory = settings.data_dir / "demo-runner" / "inventory" / "hosts.yml"
    write_demo_inventory(inventory, landing / "inventory" / f"inventory-{first}.json", sites)

    _progress(2, total, "running the demo playbooks with ansible-runner against local hosts")
    run_real_playbooks(settings.data_dir / "demo-runner", landing / "ansible" / "runner", inventory)

    _progress(3, total, f"generating runs for {days} earlier days in the artifact format")
    generated = write_artifacts(
        landing / "ansible" / "generated",
        sites,
        [first + timedelta(days=i) for i in range(days)],
        hosts_per_site=HOSTS_PER_SITE,
    )
    print(f"      {len(generated)} runs, {sum(g.events for g in generated)} events", flush=True)

    _progress(4, total, f"generating device metrics and config backups for {days} earlier days")
    devices = write_device_landing(landing, sites=len(sites), days=days, start=first)
    print(
        f"      {devices.metrics_samples} samples, {devices.backups} backups, "
        f"{len(devices.deployments)} deployments",
        flush=True,
    )

    _progress(5, total, f"generating Open5GS logs, scrapes and CDRs for {days} earlier days")
    core5g = write_core5g_demo_landing(landing, sites, first, days)
    print(f"      {core5g.registrations} registrations in {core5g.files} files", flush=True)
    key_file = ensure_pseudonym_key()
    if key_file:
        print(f"      pseudonymisation key: {key_file} (DM_PSEUDONYM_KEY was unset)", flush=True)

    instance = DagsterInstance.get()
    defs = build_definitions(settings)
    _progress(6, total, "ingesting the landing folder (Dagster job ingest_landing)")
    if not ingest(defs, instance).success:
        print("ingest failed: see the Dagster log above", file=sys.stderr)
        return 1

    _progress(7, total, f"materializing {first}..{today} x {len(sites)} sites in one run")
    result = materialize_rectangle(defs, instance, first, today)
    if not result.success:
        print("materialization failed: see the Dagster log above", file=sys.stderr)
        return 1

    from pyspark.sql import SparkSession

    print_site_kpis(SparkSession.getActiveSession(), first, today)
    print_core5g_kpis(SparkSession.getActiveSession(), first, today)
    print(f"\ndone in {time.monotonic() - started:.0f} s; warehouse {settings.warehouse_dir}")
    return 0
