"""Text cleaning applied to every value on its way into PostgreSQL."""

from __future__ import annotations

import codecs
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


# UTF-32 marks first: the UTF-32 LE mark starts with the UTF-16 LE one.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
_SNIFF_BYTES = 4096


def _wide_encoding(data: bytes) -> tuple[str, str] | None:
    """Return the codec and name of a UTF-16 or UTF-32 file: by its byte order mark, or, without
    one, by NUL bytes in every other position of ASCII-range text."""
    for bom, codec, name in _WIDE_BOMS:
        if data.startswith(bom):
            return codec, name
    sample = data[:_SNIFF_BYTES]
    if len(sample) >= 4 and b"\x00" in sample:
        even_nuls = sample[0::2].count(0)
        odd_nuls = sample[1::2].count(0)
        half = len(sample) // 2
        if odd_nuls > 0.9 * half and even_nuls == 0:
            return "utf-16-le", "UTF-16"
        if even_nuls > 0.9 * half and odd_nuls == 0:
            return "utf-16-be", "UTF-16"
    return None


def decode_bytes(data: bytes) -> str:
    """Decode UTF-8, or UTF-16/32 when _wide_encoding detects it, with invalid sequences
    replaced by U+FFFD, so decoding never raises."""
    wide = _wide_encoding(data)
    if wide is not None:
        return clean_text(data.decode(wide[0], errors="replace")) or ""
    return clean_text(data.decode("utf-8", errors="replace")) or ""


def encoding_error(data: bytes) -> str | None:
    """Return why ``data`` cannot be read as UTF-8 text at all (UTF-16, UTF-32 or binary),
    or None when it can."""
    wide = _wide_encoding(data)
    if wide is not None:
        return (
            f"file is {wide[1]}, not UTF-8: convert it to UTF-8 (for example iconv -f {wide[1]}"
            " -t UTF-8) and re-ingest"
        )
    if b"\x00" in data:
        offset = data.index(b"\x00")
        return (
            f"file is binary, not text (NUL byte at offset {offset}): put only text files in this"
            " folder"
        )
    return None


def invalid_utf8(data: bytes) -> str | None:
    """Return a reason when ``data`` has bytes that are not UTF-8 (Latin-1 text, say), which
    decode_bytes stores as U+FFFD, or None when it is valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"file is not valid UTF-8 (first invalid byte at offset {exc.start}), so its invalid"
            " bytes were stored as U+FFFD: convert the file to UTF-8 (for example iconv -f LATIN1"
            " -t UTF-8) and re-ingest"
        )
    return None


def read_text(data: bytes) -> tuple[str, str | None, str | None]:
    """Return ``(decode_bytes(data), encoding_error(data), invalid_utf8(data))``, decoding
    ``data`` once where the three functions would decode it up to three times. The third is
    None whenever the second is set."""
    wide = _wide_encoding(data)
    if wide is not None or b"\x00" in data:
        return decode_bytes(data), encoding_error(data), None
    try:
        text = data.decode("utf-8")
        invalid = None
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        invalid = invalid_utf8(data)
    return text, None, invalid


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
