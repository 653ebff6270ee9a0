"""Settings of the platform, each read from one environment variable with a default.

With no variable set everything runs embedded under ``./data``: a local Spark master, a Derby
metastore and the Hive warehouse in that folder, and the raw tables in the local PostgreSQL
database ``deploy_manager``. The Dagster instance is described in ``deploy_manager.instance``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_PORT = 65535
# The Spark driver's JVM (Java 17) compiles with the first JIT tier (C1) alone. It lives for one
# run, and in a 54 s daily run at 100 sites on 2 cores the second tier (C2) used 33 s of CPU.
# C1 alone reserves 48 MB of code cache by default, too little for Spark's generated code.
DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number: set it to a decimal value") from exc


@dataclass(frozen=True)
class Settings:
    """Typed view of the ``DM_*`` environment variables (see README, "Configuration")."""

    data_dir: Path
    postgres_url: str
    jdbc_jar: str
    spark_master: str
    spark_driver_memory: str
    # Extra JVM options of the Spark driver (DRIVER_JAVA_OPTIONS by default).
    spark_driver_java_options: str
    spark_shuffle_partitions: int
    # Folder for Spark event logs (one file per session), or "" for none.
    spark_event_log_dir: str
    warehouse_dir: str
    metastore_url: str
    partitions_start_date: date
    healthy_success_rate: float
    critical_success_rate: float
    landing_dir: Path

    @property
    def jdbc_url(self) -> str:
        """JDBC form of ``postgres_url`` (user and password become query parameters)."""
        return postgres_url_to_jdbc(self.postgres_url)

    @property
    def uses_embedded_metastore(self) -> bool:
        return self.metastore_url.startswith("jdbc:derby:")


def postgres_url_to_jdbc(url: str) -> str:
    """Convert ``postgresql://user:pw@host:port/db`` into ``jdbc:postgresql://host:port/db?...``."""
    from urllib.parse import unquote, urlencode, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"DM_POSTGRES_URL={url!r} is not a PostgreSQL URL: "
            "use postgresql://user[:password]@host[:port]/database"
        )
    params = {}
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    query = f"?{urlencode(params)}" if params else ""
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432
    return f"jdbc:postgresql://{host}:{port}{parts.path}{query}"


def jdbc_to_postgres_url(jdbc_url: str) -> str:
    """Convert ``jdbc:postgresql://host:port/db?user=u&password=p`` into a libpq URL."""
    from urllib.parse import parse_qs, quote, urlsplit

    if not jdbc_url.startswith("jdbc:postgresql://"):
        raise ValueError(
            f"{jdbc_url!r} is not a PostgreSQL JDBC URL: use jdbc:postgresql://host:port/db"
        )
    parts = urlsplit(jdbc_url.removeprefix("jdbc:"))
    query = parse_qs(parts.query)
    user = query.get("user", [""])[0]
    password = query.get("password", [""])[0]
    credentials = quote(user) + (f":{quote(password)}" if password else "")
    at = f"{credentials}@" if credentials else ""
    return f"postgresql://{at}{parts.hostname}:{parts.port or 5432}{parts.path}"


def load_settings() -> Settings:
    """Read the settings from the environment; call again after changing a variable."""
    data_dir = Path(_env("DM_DATA_DIR", str(PROJECT_ROOT / "data"))).resolve()
    warehouse = _env("DM_WAREHOUSE_DIR", str(data_dir / "warehouse"))
    start_raw = _env("DM_PARTITIONS_START_DATE", "2026-01-01")
    try:
        start = date.fromisoformat(start_raw)
    except ValueError as exc:
        raise ValueError(
            f"DM_PARTITIONS_START_DATE={start_raw!r} is not a date: use YYYY-MM-DD"
        ) from exc
    shuffle_raw = _env("DM_SPARK_SHUFFLE_PARTITIONS", "8")
    if not shuffle_raw.isdigit() or int(shuffle_raw) < 1:
        raise ValueError(
            f"DM_SPARK_SHUFFLE_PARTITIONS={shuffle_raw!r} is invalid: use a whole number >= 1"
        )
    return Settings(
        data_dir=data_dir,
        postgres_url=_env("DM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/deploy_manager"),
        jdbc_jar=_env("DM_JDBC_JAR", "/usr/share/java/postgresql.jar"),
        spark_master=_env("DM_SPARK_MASTER", "local[*]"),
        spark_driver_memory=_env("DM_SPARK_DRIVER_MEMORY", "2g"),
        spark_driver_java_options=_env("DM_SPARK_DRIVER_JAVA_OPTIONS", DRIVER_JAVA_OPTIONS),
        spark_shuffle_partitions=int(shuffle_raw),
        spark_event_log_dir=_env("DM_SPARK_EVENT_LOG_DIR", ""),
        warehouse_dir=warehouse,
        metastore_url=_env(
            "DM_METASTORE_URL",
            f"jdbc:derby:;databaseName={data_dir / 'metastore_db'};create=true",
        ),
        partitions_start_date=start,
        healthy_success_rate=_env_float("DM_HEALTHY_SUCCESS_RATE", 95.0),
        critical_success_rate=_env_float("DM_CRITICAL_SUCCESS_RATE", 80.0),
        landing_dir=Path(_env("DM_LANDING_DIR", str(data_dir / "landing"))).resolve(),
    )
