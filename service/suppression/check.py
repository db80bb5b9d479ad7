"""The single check: the hot path every sending system calls before each message.

One query (`STATE_SQL`), the one rule set (`decide()`), and an answer encoded straight to JSON
bytes by msgspec: no ORM rows, no pydantic, nothing allocated that the answer does not need.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from service.consent.decision import decide, state_from_rows
from service.consent.queries import STATE_SQL
from service.contacts.normalize import CHANNELS, AddressError, is_address_key
from service.errors import InputError
from service.ops.counters import observe_check
from service.runtime import Runtime
from service.suppression.schemas import CheckResult
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

    A `+` in an email address sent unencoded in a query string arrives as a space; spaces are
    never valid there, so they are read back as `+`.
    """
    if len(value) == 64:
        lowered = value.lower()
        if is_address_key(lowered):
            return lowered
    if channel == "email" and " " in value:
        value = value.strip().replace(" ", "+")
    return rt.keyer.parse(channel, value, rt.settings.default_phone_region)[1]


async def check_one(
    rt: Runtime, channel: str, address: str, topic_key: str | None, request: Any = None,
) -> bytes:
    """The JSON answer for one address (422 through InputError for bad input). With read
    replicas configured, a replica answers unless this caller wrote a moment ago."""
    check_channel(channel)
    topic = await resolve_topic(rt, channel, topic_key) if topic_key else None
    try:
        key = key_of(rt, channel, address)
    except AddressError as exc:
        raise InputError("address", str(exc)) from None
    if rt.db.replicas is None:
        rows = await rt.db.fetch_read(STATE_SQL, channel, key)
    else:
        rows = await rt.db.fetch_read(STATE_SQL, channel, key,
                                      fresh=await rt.read_fresh(request))
    reasons = decide(state_from_rows(rows), topic, datetime.now(UTC))
    observe_check(reasons)
    return _encode(CheckResult(channel, address, topic.key if topic else None, not reasons,
                               reasons))
