"""The 5G core part of the landing folder: ``<landing>/core5g/`` with its ``sources.json``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg

from deploy_manager.core5g.load import Core5gIngestSummary, ingest_core5g_folder
from deploy_manager.core5g.sources.config import CONFIG_FILE_NAME, load_sources_config
from deploy_manager.ingest.pseudonymise import Pseudonymiser, load_key
from deploy_manager.partitions import validate_site_id

log = logging.getLogger(__name__)

CORE5G_LANDING = "core5g"


@dataclass
class Core5gLanding:
    """What one ingest of ``<landing>/core5g`` did, and the sites its sources.json names."""

    summary: Core5gIngestSummary
    sites: set[str]


def ingest_core5g_landing(
    conn: psycopg.Connection, landing: Path, *, force: bool = False
) -> Core5gLanding | None:
    """Ingest ``<landing>/core5g`` with the key in ``DM_PSEUDONYM_KEY``; None without that folder.

    Raises PseudonymKeyError (the message says how to create and export a key) when the
    variable is unset or too short, SourceConfigError when sources.json is missing or invalid,
    and InvalidSiteIdError for a site id that cannot be a partition key.
    """
    folder = landing / CORE5G_LANDING
    if not folder.is_dir():
        log.info("no 5G core landing folder %s, so no 5G core files are ingested", folder)
        return None
    config = load_sources_config(folder / CONFIG_FILE_NAME)
    sites = {validate_site_id(source.site_id) for source in config.sources}
    pseudonymiser = Pseudonymiser(load_key())
    summary = ingest_core5g_folder(conn, folder, pseudonymiser, force=force)
    return Core5gLanding(summary, sites)
