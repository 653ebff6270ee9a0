"""Settings of the REST API, each read from one environment variable with a default.

- ``DM_WAREHOUSE_DIR``: Hive warehouse folder read (default: the platform's, see
  ``deploy_manager.settings``).
- ``DM_API_KEYS``: comma-separated API keys. With no key here or in the file, no key is needed.
- ``DM_API_KEYS_FILE``: file with one API key per line, ``#`` starts a comment (default none).
- ``DM_API_RATE_LIMIT``: requests per second allowed per API key, or per client address when
  no keys are set; 0 turns rate limiting off (default 50).
- ``DM_API_RATE_BURST``: requests a key may send at once above the steady rate (default 100).
- ``DM_API_CORS_ORIGINS``: comma-separated origins allowed by CORS, ``*`` for any (default
  none, which turns CORS off).
- ``DM_API_CHECK_SECONDS``: seconds between two looks of the watcher at the tables' folders
  for new files; 0 makes every request look first instead (default 1.0).
- ``DM_API_CACHE_ENTRIES``: query results kept in memory, least recently used dropped first
  (default 4096).
- ``DM_API_HOST`` and ``DM_API_PORT``: address that ``deploy-manager serve-api`` listens on
  (default 127.0.0.1 and 8000).
- ``DM_API_WORKERS``: uvicorn worker processes of ``serve-api``, each with its own cache
  (default 1).
- ``DM_API_LOG_LEVEL``: level of the API's JSON log lines (default INFO).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from deploy_manager.settings import MAX_PORT
from deploy_manager.settings import load_settings as load_platform_settings


class ApiSettingsError(ValueError):
    """An API setting whose environment value cannot be used."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_number(
    name: str, default: float, minimum: float, kind: type = float, maximum: float | None = None
) -> float:
    raw = _env(name, str(default))
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ApiSettingsError(
            f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number: "
            f"set it to a value >= {minimum}"
        ) from exc
    if value < minimum:
        raise ApiSettingsError(f"{name}={raw!r} is invalid: set it to a value >= {minimum}")
    if maximum is not None and value > maximum:
        raise ApiSettingsError(
            f"{name}={raw!r} is invalid: set it to a value from {minimum} to {maximum}"
        )
    return value


def _split_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def read_key_file(path: Path) -> tuple[str, ...]:
    """Return the API keys of ``path``: one per line, blank lines and ``#`` comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ApiSettingsError(
            f"DM_API_KEYS_FILE={str(path)!r} cannot be read ({exc.strerror}): "
            "point it at a readable file with one API key per line"
        ) from exc
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


@dataclass(frozen=True)
class ApiSettings:
    """Typed view of the API's environment variables (listed in the module docstring)."""

    warehouse_dir: Path
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    rate_limit: float = 50.0
    rate_burst: int = 100
    cors_origins: tuple[str, ...] = ()
    check_seconds: float = 1.0
    cache_entries: int = 4096
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "INFO"
    healthy_success_rate: float = 95.0
    critical_success_rate: float = 80.0

    @property
    def requires_api_key(self) -> bool:
        return bool(self.api_keys)


def _warehouse_folder(location: str) -> Path:
    """Return the warehouse as a local folder; the API lists it with os.scandir."""
    if location.startswith("file://"):
        return Path(location.removeprefix("file://"))
    if "://" in location:
        raise ApiSettingsError(
            f"DM_WAREHOUSE_DIR={location!r} is not a local folder: the API reads the warehouse "
            "with local file calls, so mount it and set DM_WAREHOUSE_DIR to the mount point"
        )
    return Path(location)


def load_api_settings() -> ApiSettings:
    """Read the API settings from the environment; call again after changing a variable."""
    platform = load_platform_settings()
    keys = _split_list(os.environ.get("DM_API_KEYS", ""))
    key_file = os.environ.get("DM_API_KEYS_FILE", "").strip()
    if key_file:
        keys += read_key_file(Path(key_file))
    log_level = _env("DM_API_LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ApiSettingsError(
            f"DM_API_LOG_LEVEL={log_level!r} is invalid: use DEBUG, INFO, WARNING or ERROR"
        )
    return ApiSettings(
        warehouse_dir=_warehouse_folder(_env("DM_WAREHOUSE_DIR", platform.warehouse_dir)),
        api_keys=tuple(dict.fromkeys(keys)),
        rate_limit=_env_number("DM_API_RATE_LIMIT", 50.0, 0.0),
        rate_burst=int(_env_number("DM_API_RATE_BURST", 100, 1, int)),
        cors_origins=_split_list(os.environ.get("DM_API_CORS_ORIGINS", "")),
        check_seconds=_env_number("DM_API_CHECK_SECONDS", 1.0, 0.0),
        cache_entries=int(_env_number("DM_API_CACHE_ENTRIES", 4096, 1, int)),
        host=_env("DM_API_HOST", "127.0.0.1"),
        port=int(_env_number("DM_API_PORT", 8000, 1, int, MAX_PORT)),
        workers=int(_env_number("DM_API_WORKERS", 1, 1, int)),
        log_level=log_level,
        healthy_success_rate=platform.healthy_success_rate,
        critical_success_rate=platform.critical_success_rate,
    )
