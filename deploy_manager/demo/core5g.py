"""The 5G core part of the main job: a pseudonymisation key, generated Open5GS landing files
for the demo sites, and the 5G KPIs per site."""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path

from deploy_manager.core5g.landing import CORE5G_LANDING
from deploy_manager.core5g.sources.generator import (
    GeneratedLanding,
    GeneratorSettings,
    generate_core5g_landing,
    site_id_of,
)
from deploy_manager.ingest.pseudonymise import KEY_ENV_VAR, key_file_path

REGISTRATIONS_PER_SITE_DAY = 5_000
UES_PER_SITE = 2_000


def ensure_pseudonym_key() -> Path | None:
    """Create the pseudonymisation key file when no key is configured.

    The file is the one every process reads when ``DM_PSEUDONYM_KEY`` is unset
    (``DM_PSEUDONYM_KEY_FILE``, default ``$DM_DATA_DIR/pseudonym.key``). It gets a new random
    32-byte key, readable by its owner only, the first time, and is kept on later runs, so
    pseudonyms stay stable between runs and the served platform uses the same key. Returns the
    file's path, or None when ``DM_PSEUDONYM_KEY`` is set.
    """
    if os.environ.get(KEY_ENV_VAR, "").strip():
        return None
    path = key_file_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as key_file:
            key_file.write(secrets.token_hex(32) + "\n")
    return path


def write_core5g_demo_landing(
    landing: Path, sites: list[str], first: date, days: int
) -> GeneratedLanding:
    """Generate Open5GS AMF and SMF logs, Prometheus scrapes and CHF-CDRs for ``sites`` and
    the ``days`` days from ``first`` into ``<landing>/core5g``."""
    generated_sites = [site_id_of(index) for index in range(1, len(sites) + 1)]
    if generated_sites != sites:
        raise ValueError(
            f"demo sites {sites} differ from the 5G generator's sites {generated_sites}: "
            "name the demo sites SITE001, SITE002, ... in order"
        )
    settings = GeneratorSettings(
        sites=len(sites),
        days=days,
        start_date=first,
        registrations_per_site_day=REGISTRATIONS_PER_SITE_DAY,
        ues_per_site=UES_PER_SITE,
        workers=os.cpu_count() or 1,
    )
    return generate_core5g_landing(landing / CORE5G_LANDING, settings)


def print_core5g_kpis(spark, first: date, last: date) -> None:
    """Print registrations, their success rate and p95 latency, and the PDU session setup
    success rate per site from the core5g marts."""
    from pyspark.sql import functions as F

    in_range = F.col("date").between(first, last)
    registrations = (
        spark.table("core5g.registration_kpis")
        .where(in_range)
        .groupBy("site_id")
        .agg(
            F.sum("total_attempts").alias("attempts"),
            F.sum("successful").alias("successful"),
            F.max("p95_latency").alias("p95"),
        )
    )
    sessions = (
        spark.table("core5g.session_kpis")
        .where(in_range)
        .groupBy("site_id")
        .agg(F.sum("attempts").alias("sessions"), F.sum("successes").alias("sessions_ok"))
    )
    rows = registrations.join(sessions, "site_id", "full_outer").orderBy("site_id").collect()
    print(f"\n5G core KPIs per site, {first} to {last}:")
    print(f"{'site':<10}{'reg. attempts':>15}{'reg. success %':>16}{'p95 ms':>9}{'setup %':>9}")
    for row in rows:
        attempts = row["attempts"] or 0
        success = f"{100.0 * row['successful'] / attempts:.1f}" if attempts else "-"
        p95 = f"{row['p95']:.0f}" if row["p95"] is not None else "-"
        sessions = row["sessions"] or 0
        setup = f"{100.0 * row['sessions_ok'] / sessions:.1f}" if sessions else "-"
        print(f"{row['site_id']:<10}{attempts:>15}{success:>16}{p95:>9}{setup:>9}")
    print(
        "p95 ms: the highest daily p95 registration latency of the site's AMFs; setup %: PDU "
        "session setups accepted / requested, from the SMF logs"
    )
