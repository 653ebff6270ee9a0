"""Host-to-site assignments from Ansible inventory snapshots.

No Ansible output names a site, so a host belongs to the site of its ``site_<ID>`` group or
its ``site_id`` variable (the variable wins). ``ansible-inventory --list`` JSON is read
directly; any other inventory Ansible understands (INI, YAML, static JSON) is first turned
into that form by running ``ansible-inventory -i FILE --list``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy_manager.partitions import InvalidSiteIdError, validate_site_id

_SITE_GROUP = re.compile(r"^site_(.+)$")
_NAME_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2})(\d{2})(\d{2})?Z?)?")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InventoryError(ValueError):
    """An inventory file Ansible cannot read; the message gives Ansible's reason."""


@dataclass(frozen=True)
class SiteAssignment:
    host: str
    site_id: str


@dataclass(frozen=True)
class RejectedHost:
    """A host whose site could not be taken from the inventory, with the reason."""

    host: str
    reason: str


def snapshot_time(path: Path) -> datetime:
    """Return the time in the file name (``inventory-2026-11-01T0300Z.json`` or a bare date),
    or the Unix epoch, which makes the snapshot valid for every run before later ones."""
    match = _NAME_TIME.search(path.name)
    if not match:
        return EPOCH
    day = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    if match.group(2):
        day = day.replace(
            hour=int(match.group(2)), minute=int(match.group(3)), second=int(match.group(4) or 0)
        )
    return day


def _ansible_inventory_list(path: Path) -> dict[str, Any]:
    binary = shutil.which("ansible-inventory") or str(
        Path(sys.executable).with_name("ansible-inventory")
    )
    try:
        completed = subprocess.run(
            [binary, "-i", str(path), "--list"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError(f"ansible-inventory failed on {path}: {exc}") from exc
    if completed.returncode != 0 or "Unable to parse" in completed.stderr:
        reason = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise InventoryError(f"ansible-inventory cannot read {path}: {reason[0]}")
    return json.loads(completed.stdout)


def load_inventory_listing(path: Path) -> dict[str, Any]:
    """Return the ``ansible-inventory --list`` form of an inventory file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            listing = json.loads(text)
        except json.JSONDecodeError:
            listing = None
        if isinstance(listing, dict) and "_meta" in listing:
            return listing
    listing = _ansible_inventory_list(path)
    if not any(k != "_meta" and k != "all" for k in listing) and not (
        listing.get("_meta", {}).get("hostvars")
    ):
        raise InventoryError(f"{path} contains no groups and no hosts, so it is not an inventory")
    return listing


def _group_hosts(listing: dict[str, Any], group: str, seen: set[str]) -> set[str]:
    if group in seen:
        return set()
    seen.add(group)
    entry = listing.get(group) or {}
    hosts = set(entry.get("hosts") or [])
    for child in entry.get("children") or []:
        hosts |= _group_hosts(listing, child, seen)
    return hosts


def site_assignments(listing: dict[str, Any]) -> tuple[list[SiteAssignment], list[RejectedHost]]:
    """Assign every host with a site; hosts with an invalid or conflicting site are rejected."""
    candidates: dict[str, set[str]] = {}
    for group in listing:
        match = _SITE_GROUP.match(group)
        if match:
            for host in _group_hosts(listing, group, set()):
                candidates.setdefault(host, set()).add(match.group(1))
    for host, variables in (listing.get("_meta", {}).get("hostvars") or {}).items():
        if isinstance(variables, dict) and variables.get("site_id") not in (None, ""):
            candidates[host] = {str(variables["site_id"])}
    assigned: list[SiteAssignment] = []
    rejected: list[RejectedHost] = []
    for host, sites in sorted(candidates.items()):
        if len(sites) > 1:
            rejected.append(
                RejectedHost(
                    host,
                    f"host {host!r} is in several site groups {sorted(sites)}: keep it in "
                    "one site_<ID> group or set its site_id variable",
                )
            )
            continue
        site = next(iter(sites))
        try:
            assigned.append(SiteAssignment(host, validate_site_id(site)))
        except InvalidSiteIdError as exc:
            rejected.append(RejectedHost(host, f"host {host!r}: {exc}"))
    return assigned, rejected
