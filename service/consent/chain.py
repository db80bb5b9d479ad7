"""The ledger's hash chain: the canonical content of an event, its field digests and its hash.

Every consent event commits to the previous event of its contact's chain (`prev_hash`) and to
its own content (`hash` = SHA-256 of the canonical content). IP, user agent and detail are
personal data that erasure and retention blank, so the content commits to them through
keyed digests kept beside them (`ip_digest`, `user_agent_digest`, `detail_digest`): blanking
a field leaves its digest, and the chain, verifiable; changing it, or a digest, does not.

The digests are keyed (HMAC) because a plain hash of an IPv4 address is reversed by trying all
2^32 of them. The key is derived from HASH_KEY with domain separation, so no new secret:
`HMAC-SHA256(HASH_KEY, "ledger-digest-v1")`. Every writer seals in the same transaction as its
insert (docs/privacy.md, "Tamper-evident ledger").
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from service.tenants.model import DEFAULT_TENANT_ID

DOMAIN = b"ledger-digest-v1"
FORMAT = 1  # the canonical content's version, itself part of the content
# The columns that hold the personal fields and their digests, in that order.
PERSONAL = (("ip", "ip_digest"), ("user_agent", "user_agent_digest"),
            ("detail", "detail_digest"))
# The kept fields the content commits to as they are (occurred_at in one fixed form).
KEPT = ("contact_id", "address_key", "channel", "topic", "action", "source", "occurred_at",
        "wording_version", "campaign", "message_ref", "api_key_id")
CHAIN_COLUMNS = ("ip_digest", "user_agent_digest", "detail_digest", "prev_hash", "hash")

_key: bytes | None = None
_last_detail: tuple[Any, str] = (None, "")  # a batch's events often share one detail
# One encoder for every canonical text (json.dumps with options builds one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
_ESCAPE = json.encoder.encode_basestring_ascii  # what _CANONICAL writes for a string


def use_hash_key(hash_key: str) -> None:
    """Derive the digest key from HASH_KEY; done once per process by `runtime.build_runtime`
    (and by the migration that backfills the chains)."""
    global _key, _last_detail
    _key = hmac.new(hash_key.encode(), DOMAIN, hashlib.sha256).digest()
    _last_detail = (None, "")  # its digest was under the old key


def _digest_key() -> bytes:
    if _key is None:
        raise RuntimeError("the ledger's digest key is not set: call chain.use_hash_key first")
    return _key


def canonical_detail(detail: Any) -> str | None:
    """A detail (JSON text or value) as one fixed text: sorted keys, no spaces, ASCII, so a
    JSON round trip through either engine gives the same digest."""
    if detail is None:
        return None
    return _CANONICAL(json.loads(detail) if isinstance(detail, str | bytes) else detail)


@lru_cache(maxsize=4096)  # a batch's events share one time: converted once
def canonical_time(value: datetime | str) -> str:
    """UTC with microseconds, one form whatever the engine hands back (SQLite text, a
    PostgreSQL timestamptz); a time without zone is UTC (as both engines store it)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def field_digest(name: str, value: Any) -> str | None:
    """The keyed digest of a personal field's canonical text; None for a field left empty."""
    if value is None:
        return None
    if name == "detail":
        return _detail_digest(value)
    return hmac.digest(_digest_key(), str(value).encode("utf-8", "surrogatepass"),
                       "sha256").hex()



def _detail_digest(detail: Any) -> str:
    global _last_detail
    if type(detail) is str and _last_detail[0] == detail:
        return _last_detail[1]
    digest = hmac.digest(_digest_key(), canonical_detail(detail).encode("utf-8", "surrogatepass"),
                         "sha256").hex()
    if type(detail) is str:
        _last_detail = (detail, digest)
    return digest


def _json(value: Any) -> str:
    """One value as the canonical encoder writes it (strings by its own C escaper)."""
    if value is None:
        return "null"
    if type(value) is str:
        return _ESCAPE(value)
    return _CANONICAL(value)


# The canonical content is a JSON object with sorted keys; the keys are fixed, so it is written
# from this template: the same text as `_CANONICAL` of the dict, without building the dict or
# sorting it per event (the chain's cost on the import path, bench/NOTES.md).
_TEMPLATE = ('{"action":%s,"address_key":%s,"api_key_id":%s,"campaign":%s,"channel":%s,'
             '"contact_id":%s,"detail_digest":%s,"ip_digest":%s,"message_ref":%s,'
             '"occurred_at":"%s","prev_hash":%s,"source":%s,"topic":%s,'
             '"user_agent_digest":%s,"v":' + str(FORMAT) + ',"wording_version":%s}')


def _content(event: Mapping[str, Any], ip_digest: str | None, user_agent_digest: str | None,
             detail_digest: str | None, prev_hash: str | None) -> str:
    api_key_id = event["api_key_id"]
    return _TEMPLATE % (
        _json(event["action"]), _json(event["address_key"]),
        "null" if api_key_id is None else int(api_key_id), _json(event["campaign"]),
        _json(event["channel"]), _json(event["contact_id"]), _json(detail_digest),
        _json(ip_digest), _json(event["message_ref"]), canonical_time(event["occurred_at"]),
        _json(prev_hash), _json(event["source"]), _json(event["topic"]),
        _json(user_agent_digest), _json(event["wording_version"]))


def content(event: Mapping[str, Any]) -> str:
    """The canonical content of an event (its kept fields, its three digests and prev_hash):
    JSON with sorted keys, separators `,` and `:`, ASCII only."""
    return _content(event, event["ip_digest"], event["user_agent_digest"],
                    event["detail_digest"], event["prev_hash"])


def event_hash(event: Mapping[str, Any]) -> str:
    return hashlib.sha256(content(event).encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class Seal:
    """What a writer stores beside an event: its digests, the link and the hash."""

    ip_digest: str | None
    user_agent_digest: str | None
    detail_digest: str | None
    prev_hash: str | None
    hash: str

    def columns(self) -> tuple:
        """The values of CHAIN_COLUMNS, in that order."""
        return (self.ip_digest, self.user_agent_digest, self.detail_digest, self.prev_hash,
                self.hash)


def seal(event: Mapping[str, Any], prev_hash: str | None) -> Seal:
    """Seal an event about to be written (KEPT fields plus ip, user_agent, detail) after the
    chain head `prev_hash` (None: the contact's first event)."""
    ip = field_digest("ip", event["ip"])
    user_agent = field_digest("user_agent", event["user_agent"])
    detail = field_digest("detail", event["detail"])
    text = _content(event, ip, user_agent, detail, prev_hash)
    return Seal(ip, user_agent, detail, prev_hash,
                hashlib.sha256(text.encode("ascii")).hexdigest())


class Heads:
    """The chain heads of a batch of events: each event sealed after the one before it of the
    same contact, starting from the heads read from the database."""

    def __init__(self, heads: Mapping[str, str | None]):
        self.heads = dict(heads)

    def seal(self, event: Mapping[str, Any]) -> Seal:
        sealed = seal(event, self.heads.get(event["contact_id"]))
        self.heads[event["contact_id"]] = sealed.hash
        return sealed


def check(row: Mapping[str, Any], expected_prev: str | None) -> str | None:
    """What does not match in a stored event: "link" (prev_hash is not the previous event's
    hash), "content" (a field, a digest or the hash), or None.

    A personal field present must match its digest; absent with a digest it was redacted (the
    stored digest stands for it); present without a digest it was put there afterwards."""
    if row["prev_hash"] != expected_prev:
        return "link"
    for name, digest in PERSONAL:
        if row[name] is not None and (row[digest] is None
                                      or row[digest] != field_digest(name, row[name])):
            return "content"
    if row["hash"] is None or row["hash"] != event_hash(row):
        return "content"
    return None


def heads_digest(tenant_id: int = DEFAULT_TENANT_ID) -> Any:
    """The running SHA-256 of a tenant's checkpoint: fed "contact_id hash\\n" lines in contact
    order. Another tenant's starts with the line "tenant <id>\\n", so its digest names whose
    heads they are; the default tenant's starts with nothing, as before tenants, so the
    checkpoints written then still verify (decision D7, docs/plans/tenants.md)."""
    sha = hashlib.sha256()
    if tenant_id != DEFAULT_TENANT_ID:
        sha.update(f"tenant {int(tenant_id)}\n".encode())
    return sha


def head_line(contact_id: str, head: str) -> bytes:
    return f"{contact_id} {head}\n".encode("utf-8", "surrogatepass")
