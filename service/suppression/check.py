"""The single check: the hot path every sending system calls before each message.

One query (`STATE.single`: `STATE_SQL`, or its hard-bounce sharing form), the one rule set
(`decide()`), and an answer encoded straight to JSON bytes by msgspec: no ORM rows, no
pydantic, nothing allocated that the answer does not need.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from service.consent.decision import (
    FREQUENCY,
    decide,
    frequency_clear_at,
    in_order,
    stale_lists,
    state_from_rows,
)
from service.consent.state_queries import STATE
from service.contacts.normalize import CHANNELS, AddressError, from_query, is_address_key
from service.errors import InputError
from service.ops.counters import observe_check
from service.runtime import Runtime
from service.suppression.schemas import CHECK_QUERY, CheckResult
from service.topics.cache import TopicInfo

_encode = msgspec.json.Encoder().encode
_JSON_HEADERS = (b"content-type", b"application/json")


class JSONAnswer:
    """A finished 200 JSON answer as a bare ASGI app (returned by a handler annotated
    `-> ASGIApp`): no Response object, no header merging, nothing to serialize."""

    __slots__ = ("body",)

    def __init__(self, body: bytes):
        self.body = body

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            _JSON_HEADERS, (b"content-length", str(len(self.body)).encode())]})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
_CHANNELS = frozenset(CHANNELS)


def check_channel(channel: str) -> str:
    if channel not in _CHANNELS:
        raise InputError("channel",
                         f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    return channel


# The declaration the OpenAPI operation is built from, unpacked once at import: the parser
# below reads the same names, required flags and enums, with no per-request lookups.
_CHANNEL, _ADDRESS, _TOPIC = CHECK_QUERY
_ENUMS = tuple((p.name, p.allowed) for p in CHECK_QUERY if p.allowed is not None)
assert _ENUMS == (("channel", _CHANNELS),)  # check_channel() is the one enum check needed


def read_check_query(query) -> tuple[str, str, str | None]:
    """(channel, address, topic) of `GET /v1/suppressions/check`, as `CHECK_QUERY` declares
    them: a missing required parameter is `query.<name>`: is required; an undeclared enum value
    is 422 naming the parameter; an empty topic means none. Unknown parameters are ignored, as
    Litestar ignores them on every other route."""
    channel, address = query.get(_CHANNEL.name), query.get(_ADDRESS.name)
    if channel is None or address is None:
        missing = _CHANNEL.name if channel is None else _ADDRESS.name
        raise InputError(f"query.{missing}", "is required")
    return check_channel(channel), address, query.get(_TOPIC.name) or None


async def resolve_topic(rt: Runtime, channel: str, key: str | None) -> TopicInfo | None:
    """The topic asked about; None (absent, null or empty) means the channel as a whole."""
    if not key:
        return None
    topic = await rt.topics.get(rt.db, key)
    if topic is None:
        raise InputError("topic", f"unknown topic {key!r}")
    if channel not in topic.channels:
        raise InputError("topic", f"topic {key!r} is not used on channel {channel} "
                                  f"(its channels: {', '.join(topic.channels) or 'none'})")
    return topic


def key_of(rt: Runtime, channel: str, value: str) -> str:
    """The address key of an address, or of an address key sent as is; AddressError if neither.

    The value is read as given: JSON bodies, CSV files, forms and paths carry a `+` as a `+`,
    so an email address with a space in it is invalid there (see `normalize.from_query`, the one
    place a space is repaired).
    """
    if len(value) == 64:
        lowered = value.lower()
        if is_address_key(lowered):
            return lowered
    return rt.keyer.parse(channel, value, rt.settings.default_phone_region)[1]


async def list_staleness(rt: Runtime, channel: str, topic: TopicInfo | None, now: datetime,
                         checks: int = 1) -> bool:
    """Whether a national list of `channel` blocks these `checks` (the rule:
    `decision.stale_lists`); a stale list is counted and logged in either mode, and blocks
    only with EXTERNAL_LIST_STALE=block. The list dates come from the in-process cache."""
    deadlines = await rt.external_lists.deadlines(rt.db, channel)
    if not deadlines:
        return False
    stale = stale_lists(deadlines, topic, now)
    if not stale:
        return False
    mode = rt.settings.external_list_stale
    rt.external_lists.report(channel, stale, mode, checks)
    return mode == "block"


async def check_one(
    rt: Runtime, channel: str, address: str, topic_key: str | None, request: Any = None,
) -> bytes:
    """The JSON answer for one address read from a query string (`read_check_query`), 422
    through InputError for bad input. With read replicas configured, a replica answers unless
    this caller wrote a moment ago."""
    topic = await resolve_topic(rt, channel, topic_key) if topic_key else None
    try:
        key = key_of(rt, channel, from_query(channel, address))
    except AddressError as exc:
        raise InputError("address", str(exc)) from None
    if rt.db.replicas is None:
        rows = await rt.db.fetch_read(STATE.single, channel, key)
    else:
        rows = await rt.db.fetch_read(STATE.single, channel, key,
                                      fresh=await rt.read_fresh(request))
    now = datetime.now(UTC)
    state = state_from_rows(in_order(rows))
    reasons = decide(state, topic, now, await list_staleness(rt, channel, topic, now))
    observe_check(reasons)
    # rule 7 (frequency): when the next message may go
    after = frequency_clear_at(state, topic, now) if FREQUENCY in reasons else None
    return _encode(CheckResult(channel, address, topic.key if topic else None, not reasons,
                               reasons, after))
