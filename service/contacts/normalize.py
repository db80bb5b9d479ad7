"""Address normalization for every channel, and the HMAC address key used for matching.

email: trimmed, Unicode NFC, domain IDNA-encoded to lowercase ASCII; the key lowercases the
whole address. Plain ASCII addresses of the common shape take a cheap path; anything else goes
through `email-validator` (no DNS). sms/phone/fax: E.164 via `phonenumbers`. post: case-folded,
whitespace collapsed, postcode upper-cased without spaces.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

CHANNELS = ("email", "sms", "phone", "fax", "post")
FAMILY = {"email": "email", "sms": "tel", "phone": "tel", "fax": "tel", "post": "post"}
MAX_INPUT = 1000

# Dot-atom local part and LDH domain labels, TLD alphabetic: the shape of nearly every address
# on a mailing list. Anything else is left to email-validator.
_FAST_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
# email-validator refuses these special-use domains; the fast path must agree with it.
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test", "home.arpa")
_WS = re.compile(r"\s+")
_UK_POSTCODE = re.compile(r"([a-z]{1,2}[0-9][a-z0-9]?)\s*([0-9][a-z]{2})$", re.IGNORECASE)


class AddressError(ValueError):
    """An address that cannot be used; the message says what is wrong."""


def normalize(channel: str, raw: str, region: str = "GB") -> str:
    """The normalized form of `raw` on `channel`, or AddressError."""
    if not isinstance(raw, str):
        raise AddressError("must be a string")
    if len(raw) > MAX_INPUT:
        raise AddressError(f"is longer than {MAX_INPUT} characters")
    if channel == "email":
        return normalize_email(raw)
    if channel in ("sms", "phone", "fax"):
        return normalize_phone(raw, region)
    if channel == "post":
        return normalize_postal(raw)
    raise AddressError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")


_SPECIAL_SUFFIXES = tuple("." + d for d in _SPECIAL_USE)


def normalize_email(raw: str) -> str:
    value = raw.strip()
    if value.isascii():
        lowered = value.lower()
        local, _, domain = lowered.partition("@")
        if (
            len(value) <= 254
            and _FAST_EMAIL.fullmatch(lowered)
            and "--" not in domain
            and len(local) <= 64
            and not lowered.endswith(_SPECIAL_SUFFIXES)
        ):  # one "@" (the pattern says so) and ASCII case keeps lengths: slice the local part
            return value[: len(local)] + "@" + domain
    return _normalize_email_slow(value)


@lru_cache(maxsize=4096)
def _normalize_email_slow(value: str) -> str:
    value = unicodedata.normalize("NFC", value)
    if not value:
        raise AddressError("is empty")
    try:
        info = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise AddressError(f"is not a valid email address: {exc}") from None
    domain = info.ascii_domain or info.domain
    return f"{unicodedata.normalize('NFC', info.local_part)}@{domain.lower()}"


def normalize_phone(raw: str, region: str = "GB") -> str:
    value = raw.strip()
    if not value:
        raise AddressError("is empty")
    try:
        number = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise AddressError(f"is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise AddressError("is not a valid phone number (give it in E.164, like +442079460958)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _reads_back(code: str) -> bool:
    """Whether a short last part, upper-cased without spaces, is read as the same postcode when
    the normalized address is normalized again (so the key of a key's address is the same)."""
    uk = _UK_POSTCODE.search(code)
    return (len(code) <= 12 and (uk is None or uk.start() == 0) and _nfc(code) == code
            and _nfc(code.casefold()).upper() == code)


def normalize_postal(raw: str) -> str:
    # case-folded before the postcode is looked for, NFC again after (case folding can undo it)
    text = _nfc(_nfc(raw).casefold())
    parts = [_WS.sub(" ", p).strip() for p in re.split(r"[,\n;]+", text)]
    parts = [p for p in parts if p]
    if len(parts) < 2:
        raise AddressError("needs at least two lines (street and town or postcode)")
    last = parts[-1]
    match = _UK_POSTCODE.search(last)
    if match:
        rest = last[: match.start()].strip()
        postcode = (match.group(1) + match.group(2)).upper()
        parts[-1:] = [rest, postcode] if rest else [postcode]
        head = parts[:-1]
    elif (any(c.isdigit() for c in last) and len(last) <= 12
          and _reads_back(postcode := last.replace(" ", "").upper())):
        head = parts[:-1]
    else:
        postcode = ""
        head = parts
    key = ", ".join(head)
    return _nfc(f"{key}, {postcode}" if postcode else key)


def matching_form(channel: str, normalized: str) -> str:
    """What the address key is computed over: emails match case-insensitively."""
    return normalized.lower() if channel == "email" else normalized


def hmac_pads(hash_key: str | bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104) for HASH_KEY."""
    key = hash_key.encode() if isinstance(hash_key, str) else hash_key
    if len(key) > 64:  # SHA-256's block size
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class AddressKeyer:
    """HMAC-SHA256(HASH_KEY, family + ':' + matching form), hex. The keyed inner and outer
    SHA-256 states (RFC 2104) are computed once and copied, about twice as fast as copying an
    `hmac` object; the result is the same HMAC."""

    def __init__(self, hash_key: str | bytes):
        inner_pad, outer_pad = hmac_pads(hash_key)
        self._inner = hashlib.sha256(inner_pad)
        self._outer = hashlib.sha256(outer_pad)

    def key(self, channel: str, normalized: str) -> str:
        inner = self._inner.copy()
        inner.update(f"{FAMILY[channel]}:{matching_form(channel, normalized)}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def email_keys(self, items: list) -> list[str | None]:
        """The keys of many email addresses at once (the bulk check): None for any item that
        needs the full path."""
        fast = self.fast_email
        return [None if (found := fast(item)) is None else found[1] for item in items]

    def fast_email(self, raw: object) -> tuple[str, str] | None:
        """(normalized, key) of a plain ASCII email address of the common shape, straight from
        the raw text (what `parse()` gives for it); None when it needs the full path."""
        # < 64 characters: the local part and the whole fit their limits, and it cannot be a
        # hex address key
        if type(raw) is not str or len(raw) >= 64 or not raw.isascii():
            return None
        value = raw.strip()
        lowered = value.lower()
        at = lowered.find("@")
        if (not _FAST_EMAIL.fullmatch(lowered) or lowered.find("--", at) >= 0
                or lowered.endswith(_SPECIAL_SUFFIXES)):
            return None
        inner = self._inner.copy()
        inner.update(b"email:" + lowered.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        # ASCII case keeps lengths: the local part as given, the domain lowercased
        return value[:at] + lowered[at:], outer.hexdigest()

    def parse(self, channel: str, raw: str, region: str = "GB") -> tuple[str, str]:
        """(normalized, address_key) for a raw address; AddressError when it cannot be used."""
        if channel == "email":
            found = self.fast_email(raw)
            if found is not None:
                return found
        normalized = normalize(channel, raw, region)
        return normalized, self.key(channel, normalized)


_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_address_key(value: str) -> bool:
    """A caller may send the hex address key instead of the address."""
    return len(value) == 64 and _HEX64.fullmatch(value) is not None


def from_query(channel: str, value: str) -> str:
    """An email address as read from a query string: a `+` sent unencoded arrives as a space,
    and spaces are never valid in an address, so they are read back as `+`. Query strings
    only (the check, `GET /v1/contacts`): in JSON bodies, CSV files, forms and paths a space
    is a space, and the address is invalid."""
    if channel == "email" and " " in value:
        return value.strip().replace(" ", "+")
    return value
