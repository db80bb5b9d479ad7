"""The bulk check over HTTP: a JSON body (up to BULK_MAX_ITEMS), or newline-delimited text
streamed in and answered line by line as it is checked (no limit on the number of lines).

Stream format (docs/suppression.md): the request body has one address (or address key) per line,
as plain text (`text/plain`) or as a JSON string (`application/x-ndjson`); blank lines are
skipped. The answer is `application/x-ndjson`: one object per blocked or invalid line (every line
with `?all=true`), in input order, then a summary line `{"checked", "blocked", "invalid"}`; a
stream without that last line was cut short.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
from litestar import Request
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse

from service.errors import InputError, decode_json
from service.runtime import Runtime
from service.suppression import queries as q
from service.suppression.bulk import CHUNK, BadItem, check_chunks, next_allowed, slices
from service.suppression.check import check_channel, resolve_topic
from service.suppression.schemas import (
    BlockedItem,
    BulkCheckRequest,
    BulkCheckResult,
    InvalidItem,
)

log = logging.getLogger("service.suppression")
MAX_LINE = 4096  # bytes; a longer line is reported invalid and skipped
_encoder = msgspec.json.Encoder()
_decode_request = msgspec.json.Decoder(BulkCheckRequest).decode
_decode_line = msgspec.json.Decoder().decode


class _DuplexASGIStream(ASGIStreamingResponse):
    """Streams the answer while the handler still reads the request body. Litestar's own
    streaming response listens for a disconnect by calling `receive()`, which would swallow
    the body chunks the check is reading; here a disconnect surfaces in the body reader."""

    __slots__ = ()

    async def send_body(self, send, receive) -> None:
        await self._stream(send)


class DuplexStream(Stream):
    """A `Stream` whose iterator may read the request body as it goes."""

    def to_asgi_response(self, *args, **kwargs):
        response = super().to_asgi_response(*args, **kwargs)
        response.__class__ = _DuplexASGIStream  # same slots, only send_body differs
        return response


class Line(msgspec.Struct, omit_defaults=True):
    line: int
    address: str
    allowed: bool
    reasons: list[str]
    next_allowed_at: datetime | None = None  # with `frequency` among the reasons


class BadLine(msgspec.Struct):
    line: int
    address: str
    allowed: bool
    error: str


class Summary(msgspec.Struct):
    checked: int
    blocked: int
    invalid: int


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) one larger than `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise InputError("body", _too_large(limit), status=413)
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise InputError("body", _too_large(limit), status=413)
        parts.append(part)
    return b"".join(parts)


def _too_large(limit: int) -> str:
    return (f"is larger than {limit} bytes; send long lists as newline-delimited text "
            "(Content-Type: text/plain or application/x-ndjson)")


def decode_request(body: bytes) -> BulkCheckRequest:
    return decode_json(_decode_request, body)


async def check_json(rt: Runtime, body: bytes, fresh: bool = False) -> bytes:
    """`{"channel", "topic", "addresses"}` to `{"checked", "blocked", "invalid"}` as bytes."""
    ask = decode_request(body)
    limit = rt.settings.bulk_max_items
    if len(ask.addresses) > limit:
        raise InputError("addresses", f"has {len(ask.addresses)} items; at most {limit} in "
                         "one JSON request (send longer lists as newline-delimited text)",
                         status=413)
    topic = await resolve_topic(rt, ask.channel, ask.topic)
    blocked: list[BlockedItem] = []
    invalid: list[InvalidItem] = []
    async for _, items, results in check_chunks(rt, ask.channel, topic, slices(ask.addresses),
                                                fresh):
        for item, result in zip(items, results, strict=True):
            if type(result) is str:
                invalid.append(InvalidItem(item if type(item) is str else str(item), result))
            elif result:
                blocked.append(BlockedItem(item, result, next_allowed(result)))
    return _encoder.encode(BulkCheckResult(len(ask.addresses), blocked, invalid))


async def prepare_stream(rt: Runtime, channel: str | None, topic_key: str | None):
    """Validate the query of a streamed check before the answer starts (so 422 is possible)."""
    if not channel:
        raise InputError("query.channel", "is required with a newline-delimited body")
    check_channel(channel)
    topic = await resolve_topic(rt, channel, topic_key)
    # The 200 status line goes out before the first look-up: make sure the database answers
    # now, so an outage is a 503 like every other check, not a 200 ending in an error line.
    await rt.db.fetch_read(q.PING)
    return topic


async def check_stream(
    rt: Runtime, request: Request, channel: str, topic, ndjson: bool, every_line: bool,
    fresh: bool = False,
) -> AsyncIterator[bytes]:
    """The NDJSON answer to a newline-delimited body, chunk by chunk."""
    checked = blocked = invalid = 0
    try:
        chunks = read_lines(request, ndjson)
        async for linenos, items, results in check_chunks(rt, channel, topic, chunks, fresh):
            out: list = []
            for lineno, item, result in zip(linenos, items, results, strict=True):
                checked += 1
                if type(result) is str:
                    invalid += 1
                    text = item.text if isinstance(item, BadItem) else item
                    out.append(BadLine(lineno, text, False, result))
                elif result:
                    blocked += 1
                    out.append(Line(lineno, item, False, result, next_allowed(result)))
                elif every_line:
                    out.append(Line(lineno, item, True, result))
            if out:
                yield _encoder.encode_lines(out)
    except Exception as exc:  # the status line is sent already: say so in the stream
        log.exception("streamed bulk check failed after %s lines", checked)
        yield _encoder.encode({"error": f"the check stopped after {checked} lines "
                                        f"({type(exc).__name__}); retry from there"}) + b"\n"
        return
    yield _encoder.encode(Summary(checked, blocked, invalid)) + b"\n"


async def read_lines(request: Request, ndjson: bool) -> AsyncIterator[tuple[list, list]]:
    """(line numbers, items) in chunks of CHUNK non-blank lines, read as the body arrives."""
    linenos: list[int] = []
    items: list = []
    buf = b""
    lineno = 0
    skipping = False  # inside a line that was too long, until its end
    async for data in request.stream():
        if skipping:
            end = data.find(b"\n")
            if end < 0:
                continue
            data, skipping = data[end + 1:], False
        buf += data
        if b"\n" in data:
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                lineno += 1
                item = _item(raw, ndjson)
                if item is not None:
                    linenos.append(lineno)
                    items.append(item)
        if len(buf) > MAX_LINE:
            lineno += 1
            linenos.append(lineno)
            items.append(BadItem(buf[:100].decode("utf-8", "replace") + "…",
                                 f"line is longer than {MAX_LINE} bytes"))
            buf, skipping = b"", True
        if len(items) >= CHUNK:
            yield linenos, items
            linenos, items = [], []
    if buf and not skipping:
        lineno += 1
        item = _item(buf, ndjson)
        if item is not None:
            linenos.append(lineno)
            items.append(item)
    if items:
        yield linenos, items


def _item(raw: bytes, ndjson: bool):
    raw = raw.strip()
    if not raw:
        return None
    if len(raw) > MAX_LINE:
        return BadItem(raw[:100].decode("utf-8", "replace") + "…",
                       f"line is longer than {MAX_LINE} bytes")
    if ndjson:
        try:
            value = _decode_line(raw)
        except msgspec.DecodeError:
            return BadItem(raw[:200].decode("utf-8", "replace"), "line is not valid JSON")
        if type(value) is not str:
            return BadItem(raw[:200].decode("utf-8", "replace"), "line is not a JSON string")
        return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadItem(raw[:200].decode("utf-8", "replace"), "line is not UTF-8 text")
