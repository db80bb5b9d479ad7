"""Signed recipient tokens: itsdangerous, one salt per purpose, a key ring from SECRET_KEYS.

The payload holds only opaque ids: [contact id, channel, topic key or "*", campaign or ""].
The newest key signs, every key verifies, so rotating keys never breaks links already sent.
Unsubscribe and preference tokens do not expire; confirmation tokens do.

Signing the non-expiring purposes is on the hot path of `POST /v1/links` (two tokens per link,
tens of thousands of links a second), so it does what `URLSafeSerializer.dumps` does with the
signing key derived once and a prepared HMAC copied per token: compact JSON, base64url without
padding, "." and the base64url HMAC-SHA1 of the django-concat derived key. The only difference:
the payload is never zlib-compressed (itsdangerous compresses when that is shorter, which for
these short payloads it practically never is). The result is a token stock itsdangerous
verifies, it never starts with "." and it is the same for the same payload every time.
Verification stays with itsdangerous (all keys, newest first).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from binascii import b2a_base64
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer

PURPOSES = ("unsubscribe", "preferences", "confirm", "privacy")
PLAIN_PURPOSES = ("unsubscribe", "preferences")
TIMED_PURPOSES = ("confirm", "privacy")
ALL_TOPICS = "*"
PRIVACY_ACTIONS = ("download", "delete")  # what a privacy link's `extra` may ask for
LONG_AGO_SECONDS = 20 * 365 * 86400  # a max age that tells an expired link from a forged one
# Longer than any token we sign (campaigns are at most 200 characters); longer input is refused
# before any decoding.
MAX_TOKEN_LENGTH = 2048

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# contact ids that need no JSON escaping (uuid hex, with or without dashes)
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}").fullmatch
_TAIL_CACHE_SIZE = 4096
# base64url parts joined by "." (a stock itsdangerous token may start with "." when compressed)
_TOKEN_SHAPE = re.compile(r"\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+").fullmatch
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _canonical(token: str) -> bool:
    """Only the one spelling we sign: base64 decoding alone would also accept trailing "="
    and other values of a last character's unused bits (the same token, spelt differently)."""
    if not _TOKEN_SHAPE(token):
        return False
    for part in (token[1:] if token[0] == "." else token).split("."):
        rest = len(part) % 4
        if rest == 1 or (rest and _B64URL.index(part[-1]) % (16 if rest == 2 else 4)):
            return False
    return True


class BadToken(Exception):
    """A bad, truncated, expired or foreign token. Never carries the token itself."""


@dataclass(frozen=True, slots=True)
class TokenData:
    contact_id: str
    channel: str
    topic: str  # a topic key, or "*" for all marketing on the channel
    campaign: str = ""
    extra: str = ""  # purpose-specific (e.g. the privacy action)

    @property
    def topic_or_none(self) -> str | None:
        return None if self.topic == ALL_TOPICS else self.topic


class _FastSigner:
    """`URLSafeSerializer(keys, salt=purpose).dumps` without compression, key derived once."""

    __slots__ = ("_inner", "_outer", "_tails")

    def __init__(self, secret_key: str, salt: str):
        # itsdangerous' default key derivation ("django-concat") and digest (SHA-1) ...
        derived = hashlib.sha1(  # noqa: S324  (key derivation for HMAC, as itsdangerous)
            salt.encode() + b"signer" + secret_key.encode()).digest()
        # ... and HMAC (RFC 2104) with the padded-key states hashed once: per token, two hash
        # copies instead of building an HMAC object (the tests compare with hmac/itsdangerous)
        block = derived.ljust(64, b"\0")
        self._inner = hashlib.sha1(bytes(b ^ 0x36 for b in block))  # noqa: S324
        self._outer = hashlib.sha1(bytes(b ^ 0x5C for b in block))  # noqa: S324
        self._tails: dict[tuple[str, str, str], str] = {}

    def sign_fields(self, contact_id: str, channel: str, topic: str, campaign: str) -> str:
        """The same token as `sign_payload([contact_id, channel, topic, campaign])`, with the
        JSON of the part a whole campaign shares encoded once."""
        if not _PLAIN_ID(contact_id):
            return self.sign_payload([contact_id, channel, topic, campaign])
        key = (channel, topic, campaign)
        tail = self._tails.get(key)
        if tail is None:
            if len(self._tails) >= _TAIL_CACHE_SIZE:
                self._tails.clear()
            tail = self._tails[key] = _json([channel, topic, campaign])[1:]
        return self._sign_json('["' + contact_id + '",' + tail)

    def sign_payload(self, payload: list[str]) -> str:
        return self._sign_json(_json(payload))

    def _sign_json(self, text: str) -> str:
        value = b2a_base64(text.encode(), newline=False).translate(_URLSAFE).rstrip(b"=")
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        signature = b2a_base64(outer.digest(), newline=False).translate(_URLSAFE).rstrip(b"=")
        return (value + b"." + signature).decode("ascii")


def tenant_of(token: str) -> int:
    """The tenant a token names in its prefix (`t{id}~`), read before verifying it (the
    tenant's signer then verifies the whole token, prefix included); 1, the default tenant,
    when it has none. `~` never occurs in base64url, so an unprefixed token never has one."""
    head, sep, _ = token[:16].partition("~") if isinstance(token, str) else ("", "", "")
    if not sep:
        return 1
    if head[:1] != "t" or not head[1:].isdigit() or head[1:2] == "0" or len(head) > 11:
        raise BadToken("tenant")
    return int(head[1:])


def tenant_keys(secret_keys: list[str], tenant_id: int) -> list[str]:
    """Tenant `tenant_id`'s key ring, derived from SECRET_KEYS key by key (so rotating
    SECRET_KEYS rotates every tenant's ring; the oldest stays first, as the ring's order
    says). The default tenant signs with SECRET_KEYS themselves: its links, sent before
    tenants existed, keep verifying."""
    if tenant_id == 1:
        return list(secret_keys)
    label = f"tenant-link-key-v1:{tenant_id}".encode()
    return [base64.urlsafe_b64encode(hmac.digest(key.encode(), label, "sha256")).decode()
            for key in secret_keys]


class TokenSigner:
    """Signs and verifies tokens of every purpose with one key ring (oldest key first), for
    one tenant: another tenant's tokens carry the prefix `t{id}~`, are signed with its own
    ring (`tenant_keys`) and a salt naming it, and never verify with another tenant's signer."""

    def __init__(self, secret_keys: list[str], confirm_max_age_seconds: int = 7 * 86400,
                 tenant_id: int = 1):
        if not secret_keys:
            raise ValueError("SECRET_KEYS is empty")
        self.confirm_max_age = confirm_max_age_seconds
        self.tenant_id = tenant_id
        self.prefix = "" if tenant_id == 1 else f"t{tenant_id}~"
        suffix = "" if tenant_id == 1 else f":t{tenant_id}"
        secret_keys = tenant_keys(secret_keys, tenant_id)
        self._plain = {
            purpose: URLSafeSerializer(list(secret_keys), salt=purpose + suffix)
            for purpose in PLAIN_PURPOSES
        }
        self._fast = {purpose: _FastSigner(secret_keys[-1], purpose + suffix)
                      for purpose in PLAIN_PURPOSES}
        self._timed = {
            purpose: URLSafeTimedSerializer(list(secret_keys), salt=purpose + suffix)
            for purpose in TIMED_PURPOSES
        }

    def sign(self, purpose: str, data: TokenData) -> str:
        payload = [data.contact_id, data.channel, data.topic, data.campaign]
        if data.extra:
            payload.append(data.extra)
        fast = self._fast.get(purpose)
        if fast is not None:
            return self.prefix + fast.sign_payload(payload)
        return self.prefix + self._timed[purpose].dumps(payload)

    def sign_fields(
        self, purpose: str, contact_id: str, channel: str, topic: str, campaign: str = ""
    ) -> str:
        """`sign()` of a non-expiring purpose without building a TokenData (bulk links)."""
        return self.prefix + self._fast[purpose].sign_fields(contact_id, channel, topic, campaign)

    def verify(self, purpose: str, token: str, max_age: int | None = None) -> TokenData:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise BadToken(purpose)
        if self.prefix:
            if not token.startswith(self.prefix):
                raise BadToken(purpose)
            token = token[len(self.prefix):]
        if not _canonical(token):
            raise BadToken(purpose)
        try:
            if purpose in self._plain:
                payload = self._plain[purpose].loads(token)
            else:
                payload = self._timed[purpose].loads(token, max_age=max_age or self.confirm_max_age)
        except (BadData, UnicodeError, ValueError, TypeError, KeyError):
            raise BadToken(purpose) from None
        if (
            not isinstance(payload, list)
            or not 4 <= len(payload) <= 5
            or not all(isinstance(part, str) for part in payload)
        ):
            raise BadToken(purpose)
        return TokenData(*payload)
