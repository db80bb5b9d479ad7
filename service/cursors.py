"""Opaque page cursors: one codec for every paged listing (the ledger, the suppression feed).

A cursor is the listing's own position (a few bytes it chooses) in URL-safe base64 without
padding, so it travels in a query string untouched and a client cannot mistake it for a number
to count up. Decoding repairs the padding, and anything that does not decode, or that the
listing's `parse` refuses (a ValueError), is a 422 naming the caller's field: never a 500.

A cursor belongs to the tenant that was given it (issue 18): another tenant sending it gets a
422, so one tenant's position (a feed's sequence numbers, say) never pages another's listing.
The default tenant's cursors are the bare position, as before tenants, so the cursors existing
mirrors hold keep working; another tenant's carry its id in front, between two TENANT_MARK
bytes (a control character, which no listing's text position starts with).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TypeVar

from service.errors import InputError
from service.tenants.model import DEFAULT_TENANT_ID

T = TypeVar("T")
NOT_OURS = "is not a cursor this service gave out"
NOT_YOURS = "is a cursor of another tenant's listing"
TENANT_MARK = b"\x1e"


def encode_cursor(position: bytes, tenant_id: int = DEFAULT_TENANT_ID) -> str:
    if tenant_id != DEFAULT_TENANT_ID:
        position = b"%s%d%s%s" % (TENANT_MARK, tenant_id, TENANT_MARK, position)
    return base64.urlsafe_b64encode(position).decode().rstrip("=")


def _split(raw: bytes) -> tuple[int, bytes]:
    """(tenant id, position) of a decoded cursor."""
    if raw[:1] != TENANT_MARK:
        return DEFAULT_TENANT_ID, raw
    tenant, mark, position = raw[1:].partition(TENANT_MARK)
    if not mark or not tenant.isdigit():
        raise ValueError(raw)
    return int(tenant), position


def decode_cursor(text: str, field: str, parse: Callable[[bytes], T],
                  tenant_id: int = DEFAULT_TENANT_ID) -> T:
    """`parse(position bytes)`, or InputError(field) when the text is not one of our cursors
    (binascii, Unicode and msgspec errors are all ValueErrors) or is another tenant's."""
    try:
        owner, position = _split(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if owner != tenant_id:
            raise InputError(field, NOT_YOURS)
        return parse(position)
    except ValueError:
        raise InputError(field, NOT_OURS) from None
