"""The Dagster instance shared by the command line, the demo and the served platform.

Every process uses the instance of ``dagster.yaml`` in ``DAGSTER_HOME``, by default this
repository's, which keeps runs, events, schedules and site partitions in the PostgreSQL
database of the ``DAGSTER_PG_*`` variables. So the runs of ``deploy-manager demo`` or
``materialize`` are the ones the served daemon's sensors and the alerts read.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from deploy_manager.settings import MAX_PORT, PROJECT_ROOT, Settings

INSTANCE_FILE = "dagster.yaml"


def instance_defaults(settings: Settings) -> dict[str, str]:
    """Return the default of each instance variable; ``scripts/serve.sh`` sets the same ones."""
    return {
        "DAGSTER_HOME": str(PROJECT_ROOT),
        "DAGSTER_PG_USERNAME": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_STORAGE_DIR": str(settings.data_dir / "dagster-storage"),
    }


def dagster_database_url() -> str:
    """Return the libpq URL of the instance database named by the ``DAGSTER_PG_*`` variables."""
    user = quote(os.environ["DAGSTER_PG_USERNAME"])
    password = os.environ["DAGSTER_PG_PASSWORD"]
    credentials = f"{user}:{quote(password)}" if password else user
    host, port = os.environ["DAGSTER_PG_HOST"], os.environ["DAGSTER_PG_PORT"]
    return f"postgresql://{credentials}@{host}:{port}/{os.environ['DAGSTER_PG_DB']}"


def use_platform_instance(settings: Settings) -> Path:
    """Set the unset instance variables to their defaults and create the instance database.

    Returns the ``dagster.yaml`` in use. Raises FileNotFoundError when ``DAGSTER_HOME`` has
    none, because Dagster would then fall back to SQLite files in that folder with its
    defaults (telemetry on) and warn, and ValueError when ``DAGSTER_PG_PORT`` is not a TCP
    port.
    """
    from deploy_manager.db.connection import ensure_database

    for name, value in instance_defaults(settings).items():
        if not os.environ.get(name, "").strip():
            os.environ[name] = value
    port = os.environ["DAGSTER_PG_PORT"].strip()
    if not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
        raise ValueError(
            f"DAGSTER_PG_PORT={port!r} is not a TCP port: set it to a whole number from 1 to "
            f"{MAX_PORT}, such as 5432"
        )
    config = Path(os.environ["DAGSTER_HOME"]).expanduser().resolve() / INSTANCE_FILE
    if not config.is_file():
        raise FileNotFoundError(
            f"DAGSTER_HOME={os.environ['DAGSTER_HOME']!r} has no {INSTANCE_FILE}: point "
            f"DAGSTER_HOME at this repository ({PROJECT_ROOT}) or at a folder with a copy of "
            f"its {INSTANCE_FILE}"
        )
    if "DAGSTER_PG_DB" in config.read_text(encoding="utf-8"):
        ensure_database(dagster_database_url())
    Path(os.environ["DAGSTER_STORAGE_DIR"]).mkdir(parents=True, exist_ok=True)
    return config
