"""Opaque page cursors: one codec for every paged listing (the ledger, the suppression feed).

A cursor is the listing's own position (a few bytes it chooses) in URL-safe base64 without
padding, so it travels in a query string untouched and a client cannot mistake it for a number
to count up. Decoding repairs the padding, and anything that does not decode, or that the
listing's `parse` refuses (a ValueError), is a 422 naming the caller's field: never a 500.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TypeVar

from service.errors import InputError

T = TypeVar("T")
NOT_OURS = "is not a cursor this service gave out"


def encode_cursor(position: bytes) -> str:
    return base64.urlsafe_b64encode(position).decode().rstrip("=")


def decode_cursor(text: str, field: str, parse: Callable[[bytes], T]) -> T:
    """`parse(position bytes)`, or InputError(field) when the text is not one of our cursors
    (binascii, Unicode and msgspec errors are all ValueErrors)."""
    try:
        return parse(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        raise InputError(field, NOT_OURS) from None
