"""Error text of failed Ansible results: where it sits, and its normalised form for grouping."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Messages Ansible modules use when the real reason is elsewhere in the result.
_GENERIC_MESSAGES = {
    "non-zero return code",
    "module failure",
    "module failure\nsee stdout/stderr for the exact error",
    "one or more items failed",
    "all items completed",
    "",
}
# Messages whose tail varies but which only report that the module output was unreadable. The
# module's stderr (a missing interpreter, a crash) contains the cause.
_GENERIC_PREFIXES = ("module result deserialization failed",)

# Applied in order, the more specific shapes first so a time is not read as numbers. Paths
# come before host names, so a host inside a path does not split it.
_BEFORE_HOSTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\x1b\[[0-9;]*m"), ""),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>"),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<id>",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\b"), "<ip>"),
    (re.compile(r"(?:~|\.{1,2})?(?:/[\w.@%+-]+)+/?"), "<path>"),
]
# Host names come before numbers, so the digits of a host name are not read as numbers.
_AFTER_HOSTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<n>"),
    (re.compile(r"\b[0-9a-fA-F]{12,}\b"), "<id>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return str(value).strip()


def error_message(result: dict[str, Any]) -> str | None:
    """Return the most specific error text of a failed or unreachable result.

    ``msg`` is used unless it is one of the generic module messages ("non-zero return code",
    "Module result deserialization failed: ..."),
    in which case ``stderr``, ``module_stderr``, ``failed_modules.<name>.msg`` or the messages
    of failed loop items say more.
    """
    msg = _text(result.get("msg"))
    candidates = [_text(result.get("stderr")), _text(result.get("module_stderr"))]
    for module in (result.get("failed_modules") or {}).values():
        if isinstance(module, dict):
            candidates.append(_text(module.get("msg")) or _text(module.get("stderr")))
    for item in result.get("results") or []:
        if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
            candidates.append(error_message(item) or "")
    specific = next((c for c in candidates if c), "")
    generic = msg.lower() in _GENERIC_MESSAGES or msg.lower().startswith(_GENERIC_PREFIXES)
    if generic and specific:
        return specific
    return msg or specific or None


def normalise_error(message: str | None, hosts: Iterable[str] = ()) -> str | None:
    """Replace hosts, addresses, paths, times, ids and numbers by placeholders so the same
    error on different hosts and runs groups together."""
    if message is None:
        return None
    text = message
    for pattern, placeholder in _BEFORE_HOSTS:
        text = pattern.sub(placeholder, text)
    for host in sorted((h for h in hosts if h), key=len, reverse=True):
        text = text.replace(host, "<host>")
    for pattern, placeholder in _AFTER_HOSTS:
        text = pattern.sub(placeholder, text)
    return text.strip()[:1000]
