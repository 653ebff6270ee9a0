"""Text cleaning applied to every value on its way into PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

# PostgreSQL text cannot hold U+0000; it is replaced by U+FFFD so the rest of the value stays.
_NUL = "\x00"
_REPLACEMENT = "\ufffd"

# Results larger than this are cut; the row keeps a truncated flag and the original length.
MAX_RESULT_CHARS = 65_536
MAX_MESSAGE_CHARS = 4_096


def clean_text(value: Any) -> str | None:
    """Return ``value`` as text without NUL characters, or None for None."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text.replace(_NUL, _REPLACEMENT) if _NUL in text else text


def decode_bytes(data: bytes) -> str:
    """Decode UTF-8, replacing invalid sequences, so nothing is lost to a decode error."""
    return clean_text(data.decode("utf-8", errors="replace")) or ""


def cut(text: str | None, limit: int) -> tuple[str | None, bool, int]:
    """Return ``(text cut to limit, was_cut, original length)``."""
    if text is None:
        return None, False, 0
    length = len(text)
    if length <= limit:
        return text, False, length
    return text[:limit], True, length


def compact_json(value: Any) -> str:
    return clean_text(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))
