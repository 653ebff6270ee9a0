"""Keyed pseudonyms for subscriber identities, applied before anything reaches PostgreSQL.

Each identity is replaced by ``<prefix>-`` and the first 16 hex digits of
HMAC-SHA256(key, kind + canonical form). The key lives outside the database and the code, in
the ``DM_PSEUDONYM_KEY`` environment variable or else in the key file
``DM_PSEUDONYM_KEY_FILE`` (default ``$DM_DATA_DIR/pseudonym.key``), so the same identity always
maps to the same pseudonym and per-UE counts still work, but the mapping cannot be reversed
from the data.

Canonical forms, so that one UE or device maps to one pseudonym however it is written:

- SUPI/IMSI: the IMSI digits. A SUCI with the null protection scheme (scheme 0) carries the
  MSIN in clear and becomes MCC + MNC + MSIN, which is the IMSI, so
  ``suci-0-001-01-0000-0-0-0000000101`` and ``imsi-001010000000101`` share one pseudonym.
- A SUCI concealed with ECIES (scheme 1 or 2) cannot be linked to the IMSI without the home
  network private key, so its scheme output gets a pseudonym of its own.
- GPSI/MSISDN: the digits without ``+``.
- PEI/IMEI: the first 14 digits (TAC and serial number), so an IMEI and the IMEISV of the
  same device share one pseudonym.
- UE IP address: the address in the compressed form of the ``ipaddress`` module.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

KEY_ENV_VAR = "DM_PSEUDONYM_KEY"
KEY_FILE_ENV_VAR = "DM_PSEUDONYM_KEY_FILE"
KEY_FILE_NAME = "pseudonym.key"
MIN_KEY_BYTES = 16
HEX_DIGITS = 16

UE_PREFIX = "ue"
SUCI_PREFIX = "suci"
GPSI_PREFIX = "gpsi"
PEI_PREFIX = "pei"
IP_PREFIX = "ip"

_GENERATE_HINT = (
    "generate one with `python -c 'import secrets; print(secrets.token_hex(32))'` and export it "
    f"as {KEY_ENV_VAR} or write it to the key file {KEY_FILE_ENV_VAR} names; keep it outside "
    "the database, because anyone holding it can test guessed identities against the pseudonyms"
)

# suci-<SUPI type>-<MCC>-<MNC>-<routing indicator>-<protection scheme>-<HN public key id>-<output>
# (TS 23.003, 2.2B). SUPI type 0 is an IMSI.
_SUCI = re.compile(
    r"^suci-(?P<supi_type>\d)-(?P<mcc>\d{3})-(?P<mnc>\d{2,3})-(?P<routing>[0-9A-Fa-f]{1,4})"
    r"-(?P<scheme>\d{1,2})-(?P<key_id>\d{1,3})-(?P<output>[0-9A-Za-z]+)$"
)
_IMSI = re.compile(r"^(?:imsi-)?(?P<digits>\d{6,15})$")
_GPSI = re.compile(r"^(?:msisdn-|\+)?(?P<digits>\d{5,15})$")
_PEI = re.compile(r"^(?:imei-(?P<imei>\d{15})|imeisv-(?P<imeisv>\d{16}))$")

# Identities as they appear inside free text: log lines, CDR fields, quarantined input.
_TEXT_IDENTITY = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    r"(?P<suci>suci-\d-\d{3}-\d{2,3}-[0-9A-Fa-f]{1,4}-\d{1,2}-\d{1,3}-[0-9A-Za-z]+)"
    r"|(?P<imsi>imsi-\d+)"
    r"|(?P<gpsi>msisdn-\d+|\+\d{7,15})"
    r"|(?P<pei>imei-\d+|imeisv-\d+)"
    r"|(?P<bare>\d{15})"
    r"|(?P<ipv4>(?:\d{1,3}\.){3}\d{1,3})"
    r"|(?P<ipv6>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})"
    r")(?![0-9A-Za-z])"
)

# An IPv4 address in dotted decimal without leading zeros, which is its compressed form.
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}")

_MISSING = object()
_SUBSCRIBER_CACHE_SIZE = 1 << 20


class PseudonymKeyError(RuntimeError):
    """The pseudonymisation key is missing or too short."""


class IdentityFormatError(ValueError):
    """A value given as a subscriber identity does not have a known identity format."""


@dataclass(frozen=True)
class SubscriberPseudonym:
    """Pseudonym of a SUPI or SUCI; ``resolved`` is False for a concealed SUCI, whose
    pseudonym cannot match the one of the same UE's IMSI."""

    pseudonym: str
    resolved: bool


def key_file_path() -> Path:
    """Return the key file: ``DM_PSEUDONYM_KEY_FILE``, or ``pseudonym.key`` in ``DM_DATA_DIR``."""
    from deploy_manager.settings import load_settings

    configured = os.environ.get(KEY_FILE_ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return load_settings().data_dir / KEY_FILE_NAME


def _configured_key_text() -> str:
    """Return the key text of ``DM_PSEUDONYM_KEY``, or else of the key file when it exists."""
    text = os.environ.get(KEY_ENV_VAR, "").strip()
    if text:
        return text
    path = key_file_path()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise PseudonymKeyError(
            f"{KEY_ENV_VAR} is not set and the key file {path} does not exist: {_GENERATE_HINT}"
        ) from None
    except OSError as exc:
        raise PseudonymKeyError(
            f"the key file {path} cannot be read ({exc.strerror}): make it readable by the user "
            f"that runs the platform, or set {KEY_ENV_VAR}"
        ) from exc
    if not text:
        raise PseudonymKeyError(f"the key file {path} is empty: {_GENERATE_HINT}")
    return text


def load_key(value: str | bytes | None = None) -> bytes:
    """Return the HMAC key given, or the configured one when ``value`` is None.

    The configured key is ``DM_PSEUDONYM_KEY`` when it is set, else the content of the key file
    (see ``key_file_path``). A text of an even number of hex digits is decoded as hex. Any
    other text is used as its UTF-8 bytes. Raises PseudonymKeyError when the key is missing,
    unreadable or shorter than 16 bytes; no message contains the key.
    """
    if isinstance(value, bytes):
        raw_bytes = value
    else:
        text = _configured_key_text() if value is None else value.strip()
        if not text:
            raise PseudonymKeyError(f"the pseudonymisation key is empty: {_GENERATE_HINT}")
        if len(text) % 2 == 0 and re.fullmatch(r"[0-9A-Fa-f]+", text):
            raw_bytes = bytes.fromhex(text)
        else:
            raw_bytes = text.encode("utf-8")
    if len(raw_bytes) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"the pseudonymisation key has {len(raw_bytes)} bytes, fewer than the minimum "
            f"{MIN_KEY_BYTES}: {_GENERATE_HINT}"
        )
    return raw_bytes


class Pseudonymiser:
    """Maps identities to keyed pseudonyms; one instance per key, safe to share."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(
                f"the pseudonymisation key has {len(key)} bytes, fewer than the minimum "
                f"{MIN_KEY_BYTES}: {_GENERATE_HINT}"
            )
        self._key = key
        # Busy logs repeat the same few identities on many lines, so the digests are cached.
        self._digest = lru_cache(maxsize=1 << 20)(self._digest_uncached)
        self._subscribers: dict[str, SubscriberPseudonym | None] = {}
        self._gpsis: dict[str, str] = {}
        self._peis: dict[str, str] = {}

    def __reduce__(self) -> tuple[type[Pseudonymiser], tuple[bytes]]:
        # The caches hold bound methods, which do not pickle: a copy in another process starts
        # with empty caches.
        return (Pseudonymiser, (self._key,))

    @classmethod
    def from_env(cls) -> Pseudonymiser:
        """Build a pseudonymiser from the configured key (see ``load_key``)."""
        return cls(load_key())

    def _digest_uncached(self, kind: str, canonical: str) -> str:
        message = f"{kind}\x00{canonical}".encode()
        return hmac.digest(self._key, message, hashlib.sha256).hex()[:HEX_DIGITS]

    def _pseudonym(self, prefix: str, kind: str, canonical: str) -> str:
        return f"{prefix}-{self._digest(kind, canonical)}"

    def imsi(self, digits: str) -> str:
        """Pseudonym of the UE with these IMSI digits (MCC + MNC + MSIN)."""
        return self._pseudonym(UE_PREFIX, "imsi", digits)

    def subscriber(self, identity: str) -> SubscriberPseudonym | None:
        """Pseudonym of a SUPI (``imsi-...`` or bare digits) or a SUCI.

        Returns None for ``(null)`` and empty values. Raises IdentityFormatError for a value
        of another form, naming it, because storing it unchanged could leak an identity.
        """
        cached = self._subscribers.get(identity, _MISSING)
        if cached is not _MISSING:
            return cached
        result = self._subscriber_uncached(identity)
        if len(self._subscribers) >= _SUBSCRIBER_CACHE_SIZE:
            self._subscribers.clear()
        self._subscribers[identity] = result
        return result

    def _subscriber_uncached(self, identity: str) -> SubscriberPseudonym | None:
        value = identity.strip()
        if value in ("", "(null)", "null", "-"):
            return None
        suci = _SUCI.match(value)
        if suci:
            return self._suci(suci)
        imsi = _IMSI.match(value)
        if imsi:
            return SubscriberPseudonym(self.imsi(imsi["digits"]), resolved=True)
        if value.startswith("nai-"):
            return SubscriberPseudonym(
                self._pseudonym(UE_PREFIX, "nai", value[4:].lower()), resolved=True
            )
        raise IdentityFormatError(
            f"subscriber identity {_redact(value)!r} has an unknown format: expected "
            "imsi-<digits>, suci-<type>-<mcc>-<mnc>-<routing>-<scheme>-<key>-<output>, "
            "nai-<user@realm> or (null)"
        )

    def _suci(self, match: re.Match[str]) -> SubscriberPseudonym:
        output = match["output"]
        if match["supi_type"] == "0" and match["scheme"] == "0" and output.isdigit():
            return SubscriberPseudonym(
                self.imsi(match["mcc"] + match["mnc"] + output), resolved=True
            )
        # A concealed SUCI (ECIES profile A or B) is fresh on every registration.
        canonical = "-".join(
            (match["mcc"], match["mnc"], match["scheme"], match["key_id"], output.lower())
        )
        return SubscriberPseudonym(self._pseudonym(SUCI_PREFIX, "suci", canonical), resolved=False)

    def subscriber_pseudonym(self, identity: str | None) -> str | None:
        """Pseudonym text of a SUPI or SUCI, or None for a missing identity."""
        if identity is None:
            return None
        result = self.subscriber(identity)
        return result.pseudonym if result else None

    def gpsi(self, value: str) -> str:
        """Pseudonym of a GPSI in MSISDN form (``msisdn-<digits>``, ``+<digits>`` or digits)."""
        return self._cached(self._gpsis, value, self._gpsi_uncached)

    def _cached(self, cache: dict[str, str], value: str, compute) -> str:
        # CDRs repeat the identities of a session on each of its partial records.
        found = cache.get(value)
        if found is None:
            found = compute(value)
            if len(cache) >= _SUBSCRIBER_CACHE_SIZE:
                cache.clear()
            cache[value] = found
        return found

    def _gpsi_uncached(self, value: str) -> str:
        match = _GPSI.match(value.strip())
        if not match:
            raise IdentityFormatError(
                f"GPSI {_redact(value)!r} has an unknown format: expected msisdn-<digits>, "
                "+<digits> or 5 to 15 digits"
            )
        return self._pseudonym(GPSI_PREFIX, "msisdn", match["digits"])

    def pei(self, value: str) -> str:
        """Pseudonym of a PEI (``imei-<15 digits>``, ``imeisv-<16 digits>`` or bare digits)."""
        return self._cached(self._peis, value, self._pei_uncached)

    def _pei_uncached(self, value: str) -> str:
        text = value.strip()
        if text.isdigit() and len(text) in (15, 16):
            text = ("imei-" if len(text) == 15 else "imeisv-") + text
        match = _PEI.match(text)
        if not match:
            raise IdentityFormatError(
                f"PEI {_redact(value)!r} has an unknown format: expected imei-<15 digits> or "
                "imeisv-<16 digits>"
            )
        digits = match["imei"] or match["imeisv"]
        return self._pseudonym(PEI_PREFIX, "imei", digits[:14])

    def ip_address(self, value: str) -> str:
        """Pseudonym of a UE IPv4 or IPv6 address; a prefix length after ``/`` is dropped."""
        text = value.strip().split("/", 1)[0]
        if _CANONICAL_IPV4.fullmatch(text):
            # Already the compressed form, which the ipaddress module would return.
            return self._pseudonym(IP_PREFIX, "ip", text)
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:
            raise IdentityFormatError(
                f"UE IP address {_redact(value)!r} is invalid: expected an IPv4 or IPv6 address"
            ) from exc
        return self._pseudonym(IP_PREFIX, "ip", address.compressed)

    def optional_ip_address(self, value: str | None) -> str | None:
        """Pseudonym of an IP address, or None for a missing or empty value."""
        if value is None or not value.strip():
            return None
        return self.ip_address(value)

    def scrub_text(self, text: str) -> str:
        """Replace every identity found in ``text`` with its pseudonym.

        Replaced are SUCIs, ``imsi-``, ``msisdn-``, ``imei-`` and ``imeisv-`` values of any
        length, ``+``
        followed by 7 to 15 digits, and any standalone run of exactly 15 digits (the length of
        an IMSI or IMEI). Every IPv4 and IPv6 address is replaced too, because free text does
        not show which addresses belong to UEs.
        """
        if not text:
            return text
        return _TEXT_IDENTITY.sub(self._replace_match, text)

    def _replace_match(self, match: re.Match[str]) -> str:
        found = match.group(0)
        kind = match.lastgroup
        if kind in ("ipv4", "ipv6"):
            try:
                return self.ip_address(found)
            except IdentityFormatError:
                # A dotted or colon-separated token that is no address, such as a time.
                return found
        try:
            if kind in ("suci", "imsi"):
                result = self.subscriber(found)
                return result.pseudonym if result else found
            if kind == "bare":
                return self.imsi(found)
            if kind == "gpsi":
                return self.gpsi(found)
            return self.pei(found)
        except IdentityFormatError:
            # A truncated or padded identity still identifies someone: hash it as it is.
            return self._pseudonym(UE_PREFIX, "malformed", found)


def _redact(value: str) -> str:
    """Shorten a rejected value for an error message so it cannot carry a whole identity."""
    return value if len(value) <= 6 else f"{value[:6]}...({len(value)} characters)"
