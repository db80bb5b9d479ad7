"""Printed opt-out codes: what a letter or a fax carries instead of a 100-character link.

A person types the code at `/o` (or reads it out on the phone to someone who does), and it stops
exactly what the signed unsubscribe link of the same recipient would stop: `find` gives the
token's data, and `unsubscribe.logic.unsubscribe` applies it as it does a one-click.

- Format: 10 characters of Crockford's base32 (digits and capitals without I, L, O and U, so
  no character reads as another), 50 bits from `secrets`, shown grouped `K7QM-3XPD-2W`. Typed
  codes are read leniently: any case, dashes and spaces ignored, O read as 0, I and L as 1.
- Storage: only HMAC-SHA256(HASH_KEY, code). A copy of the database holds no usable code, and
  without HASH_KEY a stored hash cannot be tried offline.
- Codes cannot be shown twice (only their hash is kept), so every `POST /v1/links` issues new
  ones; every code issued stays valid, as unsubscribe links do (letters already printed keep
  working).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from service.codes import queries as q
from service.db.tables import WHOLE_CHANNEL
from service.db.tenant_db import TenantDb
from service.security.tokens import ALL_TOPICS, TokenData
from service.settings import Settings

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U
LENGTH = 10  # 10 x log2(32) = 50 bits
GROUPS = (4, 4, 2)  # K7QM-3XPD-2W
CODED_CHANNELS = frozenset({"post", "fax"})  # channels whose messages cannot carry a link
PAGE_PATH = "/o"
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_.]+")  # spaces, dashes of every kind
_HASH_PREFIX = b"opt-out-code:"  # keeps these hashes apart from address keys (same HASH_KEY)


def new_code() -> str:
    """A fresh code, ungrouped: 50 random bits, 5 per character."""
    bits = secrets.randbits(5 * LENGTH)
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(LENGTH))


def grouped(code: str) -> str:
    """`K7QM3XPD2W` -> `K7QM-3XPD-2W`: easier to read off paper and to type."""
    parts, start = [], 0
    for size in GROUPS:
        parts.append(code[start:start + size])
        start += size
    return "-".join(parts)


def normalize(typed: str) -> str | None:
    """The code a person meant, or None when what they typed cannot be one."""
    code = _SEPARATORS.sub("", typed).upper().translate(_LOOKALIKES)
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def code_hash(hash_key: str, code: str) -> str:
    return hmac.new(hash_key.encode(), _HASH_PREFIX + code.encode(), hashlib.sha256).hexdigest()


async def issue(db: TenantDb, hash_key: str,
                targets: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """One new code per (contact id, channel, topic or "*", campaign), in order, grouped.

    One transaction, one statement per round on each engine; a hash already taken is drawn
    again in the next round (at 50 bits, practically never more than one extra round). The
    codes are drawn and hashed before the write lock is taken."""
    codes: list[str] = [""] * len(targets)
    drawn = _draw(hash_key, range(len(targets)))
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        while drawn:
            rows = [(h, *_stored(targets[i])) for h, (i, _) in drawn.items()]
            if db.is_sqlite:
                inserted = await tx.fetch(q.INSERT_SQLITE, json.dumps(rows), now)
            else:
                inserted = await tx.fetch(q.INSERT_PG, *map(list, zip(*rows, strict=True)), now)
            for row in inserted:
                i, code = drawn.pop(row[0])
                codes[i] = grouped(code)
            # what is left was taken by an earlier code: draw it again
            drawn = _draw(hash_key, [i for i, _ in drawn.values()])
    return codes


def _draw(hash_key: str, indexes: Iterable[int]) -> dict[str, tuple[int, str]]:
    """hash -> (target index, code): a fresh code for each index."""
    drawn: dict[str, tuple[int, str]] = {}
    for i in indexes:
        code = new_code()
        while (h := code_hash(hash_key, code)) in drawn:  # the same draw twice in one batch
            code = new_code()
        drawn[h] = (i, code)
    return drawn


def _stored(target: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
    contact_id, channel, topic, campaign = target
    return contact_id, channel, WHOLE_CHANNEL if topic == ALL_TOPICS else topic, campaign


async def find(db: TenantDb, hash_key: str, typed: str) -> TokenData | None:
    """What a typed code stops, as the unsubscribe token of the same recipient would name it;
    None for anything that is not a code issued here, by `db`'s tenant."""
    code = normalize(typed)
    if code is None:
        return None
    row = await db.fetchrow(q.FIND, code_hash(hash_key, code))
    if row is None or row[4] != db.tenant_id:
        return None  # FIND reads every tenant's codes: another tenant's is no code of ours
    return TokenData(row[0], row[1], row[2] or ALL_TOPICS, row[3])


def page_url(settings: Settings, domains: Sequence[str] = ()) -> str:
    """Where a tenant's codes are typed. `/o` acts in the tenant of its host (a code of
    another tenant is unknown there), so a tenant with host names of its own prints its first
    one; any other prints PUBLIC_BASE_URL's, whose host names no tenant (the default's)."""
    base = settings.public_base_url.rstrip("/")
    if domains:
        base = f"{urlsplit(base).scheme or 'https'}://{domains[0]}"
    return base + PAGE_PATH


def fax_notice(settings: Settings, code: str, url: str | None = None) -> str:
    """The opt-out notice for the first page of a fax advertisement (Junk Fax Prevention Act,
    47 CFR 64.1200(a)(4)(iii)): the right to ask, the 30-day rule, a cost-free way at any hour,
    and the sender's own contact (ORG_SUPPORT_CONTACT: the domestic phone and fax number).
    `url`: the tenant's `page_url`."""
    url = url or page_url(settings)
    contact = settings.org_support_contact.strip()
    also = f", or contact {contact}" if contact else ""
    return (f"You may ask {settings.org_name} to send no more advertisements to your fax "
            f"number(s); failure to comply with such a request within 30 days is unlawful. "
            f"To opt out free of charge, 24 hours a day, go to {url} and enter code {code}"
            f"{also}.")
