"""`POST /v1/links`: signed unsubscribe and preference links for a message or a whole campaign.

Three steps, so that bad input is refused before anything is written and the answer can be
streamed: `check_recipients` parses every address and topic and collects every error, while a
`ContactResolver` looks up the contacts of each parsed chunk in the background (one query per
chunk and channel); `ContactResolver.finish` creates the unknown ones in one transaction
(batched inserts, not a query per recipient); `add_codes` issues the printed opt-out codes of
post and fax recipients in one batch; `render_links` signs two tokens per recipient and yields
the JSON answer in chunks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from service.codes import logic as codes
from service.contacts.normalize import AddressError
from service.contacts.store import new_contact_id
from service.db.sqlite import to_sqlite
from service.db.tenant_db import TenantDb, TenantTx
from service.runtime import Runtime
from service.security.tokens import ALL_TOPICS
from service.unsubscribe import queries as q
from service.unsubscribe.schemas import LinkRecipient

ONE_CLICK = "List-Unsubscribe=One-Click"
ONE_CLICK_JSON = f'"List-Unsubscribe-Post":"{ONE_CLICK}"'
MAX_EMAIL_ADDRESS = 254  # RFC 5321 path limit, minus the angle brackets
CHUNK = 2000  # links per streamed chunk
_UNSEEN = object()
LOOKUP_CHUNK = 20_000  # recipients per background look-up
LONG_READ = 1000  # more keys than this: look them up off the event loop (SQLite)
_decode_pairs = msgspec.json.Decoder(list[tuple[str, str]]).decode


@dataclass(slots=True)
class Item:
    """One checked recipient."""

    given: str
    channel: str
    topic: str  # a topic key or "*"
    campaign: str
    normalized: str
    key: str
    code: str = ""  # the printed opt-out code (post and fax recipients), set by add_codes


async def check_recipients(
    rt: Runtime, recipients: list[LinkRecipient], resolver: ContactResolver | None = None
) -> tuple[list[Item], list[dict]]:
    """(items, errors): every recipient parsed; every problem listed as {field, message}.

    With a resolver, the contacts of each parsed chunk are looked up in the background while
    the next chunk is parsed (read-only: discarded when there are errors)."""
    topics = await rt.topics.all(rt.db)
    parse, region = rt.keyer.parse, rt.settings.default_phone_region
    items: list[Item] = []
    errors: list[dict] = []
    topic_errors: dict[tuple[str, str], object] = {}
    looked_up = 0
    for i, r in enumerate(recipients):
        channel, address = r["channel"], r["address"]
        topic = r.get("topic") or ALL_TOPICS
        if topic != ALL_TOPICS:
            problem = topic_errors.get((channel, topic), _UNSEEN)
            if problem is _UNSEEN:
                info = topics.get(topic) or await rt.topics.get(rt.db, topic)
                problem = topic_errors[(channel, topic)] = _topic_problem(info, topic, channel)
            if problem:
                errors.append({"field": f"recipients[{i}].topic", "message": problem})
        try:
            normalized, key = parse(channel, address, region)
        except AddressError as exc:
            errors.append({"field": f"recipients[{i}].address", "message": str(exc)})
            continue
        items.append(Item(address, channel, topic, r.get("campaign") or "", normalized, key))
        if resolver is not None and not errors and len(items) - looked_up >= LOOKUP_CHUNK:
            resolver.look_up(items[looked_up:])
            looked_up = len(items)
            await asyncio.sleep(0)  # let the look-ups start (PostgreSQL)
    if resolver is not None and not errors:
        resolver.look_up(items[looked_up:])
    return items, errors


def _topic_problem(info, key: str, channel: str) -> str | None:
    if info is None:
        return f"unknown topic {key!r}"
    if info.channels and channel not in info.channels:
        return f"topic {key!r} is not used on the {channel} channel"
    if info.transactional:
        return (f"topic {key!r} is transactional: marketing opt-outs do not stop it; "
                "omit topic for a link that stops all marketing on the channel")
    return None


async def _sqlite_tx_thread(tx, fn):
    """Run a long statement of a SQLite write transaction in a thread: we hold the write lock,
    so nobody else uses the writer connection, and the event loop keeps serving reads. The
    connection is the raw one, past the tenant's view: `fn` passes the tenant id ($1) itself."""
    return await asyncio.to_thread(fn, tx.conn)


async def _lookup(db: TenantDb, tx: TenantTx | None, channel: str, keys: list[str]) -> list:
    if db.is_sqlite:
        args = (q.LOOKUP_SQLITE, channel, json.dumps(keys))
    else:
        args = (q.LOOKUP_PG, channel, keys)
    if tx is not None:
        if db.is_sqlite and len(keys) > LONG_READ:
            sql, params = to_sqlite(args[0]), (tx.tenant_id, *args[1:])
            return await _sqlite_tx_thread(tx, lambda conn: conn.execute(sql, params).fetchall())
        return await tx.fetch(*args)
    if len(keys) > LONG_READ:
        if db.is_sqlite:
            found = await db.fetch_long(q.LOOKUP_SQLITE_JSON, channel, json.dumps(sorted(keys)))
            return _decode_pairs(found[0][0])
        return await db.fetch_long(*args)
    return await db.fetch(*args)


class ContactResolver:
    """(channel, address key) -> contact id for every item; unknown addresses become contacts.

    `look_up` starts a background read per chunk; `finish` waits for them, then creates the
    contacts still missing in one transaction (batched inserts, not a query per recipient).
    """

    def __init__(self, db: TenantDb):
        self.db = db
        self.wanted: dict[str, dict[str, Item]] = {}
        self.pending: list[tuple[str, asyncio.Future]] = []

    def look_up(self, items: Iterable[Item]) -> None:
        new: dict[str, list[str]] = {}
        for item in items:
            by_key = self.wanted.setdefault(item.channel, {})
            if item.key not in by_key:
                by_key[item.key] = item
                new.setdefault(item.channel, []).append(item.key)
        for channel, keys in new.items():
            self.pending.append(
                (channel, asyncio.ensure_future(_lookup(self.db, None, channel, keys))))

    async def discard(self) -> None:
        await asyncio.gather(*(future for _, future in self.pending), return_exceptions=True)

    async def finish(self) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        results = await asyncio.gather(*(future for _, future in self.pending),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # after every look-up has finished: none is left unawaited
        for (channel, _), rows in zip(self.pending, results, strict=True):
            for key, contact_id in rows:
                found[(channel, key)] = contact_id
        missing = {channel: {k: v for k, v in by_key.items() if (channel, k) not in found}
                   for channel, by_key in self.wanted.items()}
        if any(missing.values()):
            await self._create(missing, found)
        return found

    async def _create(self, missing: dict[str, dict[str, Item]],
                      found: dict[tuple[str, str], str]) -> None:
        async with self.db.transaction() as tx:
            # Serialize with every other creator of contacts (ensure_contact_for_address takes
            # the same lock), then look again: a concurrent request may have created some.
            await tx.lock_feed()
            now = datetime.now(UTC)
            for channel, by_key in missing.items():
                if not by_key:
                    continue
                for key, contact_id in await _lookup(self.db, tx, channel, list(by_key)):
                    found[(channel, key)] = contact_id
                    del by_key[key]
                if by_key:
                    await _insert(self.db, tx, channel, list(by_key.values()), found, now)


async def _insert(db: TenantDb, tx: TenantTx, channel: str, new: list[Item],
                  found: dict[tuple[str, str], str], now: datetime) -> None:
    ids = [new_contact_id() for _ in new]
    for contact_id, item in zip(ids, new, strict=True):
        found[(channel, item.key)] = contact_id
    if db.is_sqlite:
        tenant = tx.tenant_id  # the thread's statements run past the tenant's view
        contacts = [(tenant, cid, False, now) for cid in ids]
        addresses = [(tenant, cid, channel, item.key, item.normalized, item.given, now)
                     for cid, item in zip(ids, new, strict=True)]

        def insert(conn) -> None:
            conn.executemany(to_sqlite(q.INSERT_CONTACT), contacts)
            conn.executemany(to_sqlite(q.INSERT_ADDRESS), addresses)

        await _sqlite_tx_thread(tx, insert)
        return
    await tx.execute(q.INSERT_CONTACTS_PG, ids, False, now)
    await tx.execute(q.INSERT_ADDRESSES_PG, channel, ids, [i.key for i in new],
                     [i.normalized for i in new], [i.given for i in new], now)


async def add_codes(rt: Runtime, items: list[Item],
                    contacts: dict[tuple[str, str], str]) -> None:
    """A printed opt-out code for every post and fax recipient, issued in one batch (codes
    stored only as keyed hashes: service/codes/logic.py). Email recipients get none."""
    coded = [item for item in items if item.channel in codes.CODED_CHANNELS]
    if not coded:
        return
    targets = [(contacts[(i.channel, i.key)], i.channel, i.topic, i.campaign) for i in coded]
    issued = await codes.issue(rt.db, rt.settings.hash_key, targets)
    for item, code in zip(coded, issued, strict=True):
        item.code = code


def _code_fields(rt: Runtime, item: Item) -> str:
    """`,"opt_out_code":…,"opt_out_url":…` (and the fax `notice`) of a coded recipient."""
    quote = msgspec.json.encode
    url = codes.page_url(rt.settings, rt.tenant.domains if rt.tenant else ())
    fields = f',"opt_out_code":"{item.code}","opt_out_url":{quote(url).decode()}'
    if item.channel == "fax":
        notice = codes.fax_notice(rt.settings, item.code, url)
        fields += f',"notice":{quote(notice).decode()}'
    return fields


def mailto_parts(address: str) -> tuple[str, str] | None:
    """(local, domain) of UNSUBSCRIBE_MAILTO, or None when it is not set."""
    address = address.strip().removeprefix("mailto:")
    local, at, domain = address.rpartition("@")
    return (local, domain) if at and local and domain else None


def mailto_uri(local: str, domain: str, token: str) -> str:
    """`mailto:local+TOKEN@domain?subject=unsubscribe%20TOKEN` (`render_links` builds the
    same text inline, JSON-escaped).

    The token is in the subject too: some relays lowercase local parts (base64url is
    case-sensitive), and a token that would make the address longer than 254 characters is
    left out of the local part altogether.
    """
    address = f"{local}+{token}@{domain}"
    if len(address) > MAX_EMAIL_ADDRESS:
        address = f"{local}@{domain}"
    return f"mailto:{address}?subject=unsubscribe%20{token}"


def _json_inner(text: str) -> str:
    """`text` escaped for use inside a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


async def render_links(
    rt: Runtime, items: list[Item], contacts: dict[tuple[str, str], str]
) -> AsyncIterator[bytes]:
    """The JSON answer `{"links": [...]}`, in request order, a chunk at a time.

    Built as text: tokens are base64url and the fixed parts are escaped once, so only the
    address is JSON-encoded per link."""
    base = rt.settings.public_base_url.rstrip("/")
    u_prefix, p_prefix = _json_inner(f"{base}/u/"), _json_inner(f"{base}/p/")
    mailto = mailto_parts(rt.settings.unsubscribe_mailto)
    local, domain = (_json_inner(mailto[0]), _json_inner(mailto[1])) if mailto else ("", "")
    room = MAX_EMAIL_ADDRESS - (len(mailto[0]) + len(mailto[1]) + 2) if mailto else 0
    sign = rt.signer.sign_fields
    quote = msgspec.json.encode
    yield b'{"links":['
    for start in range(0, len(items), CHUNK):
        parts = []
        for item in items[start:start + CHUNK]:
            contact_id = contacts[(item.channel, item.key)]
            token = sign("unsubscribe", contact_id, item.channel, item.topic, item.campaign)
            pref = sign("preferences", contact_id, item.channel, ALL_TOPICS, item.campaign)
            if item.channel != "email":
                headers = "null"
            elif mailto is None:
                headers = f'{{"List-Unsubscribe":"<{u_prefix}{token}>",{ONE_CLICK_JSON}}}'
            else:
                to = f"{local}+{token}@{domain}" if len(token) <= room else f"{local}@{domain}"
                headers = (f'{{"List-Unsubscribe":"<{u_prefix}{token}>, <mailto:{to}'
                           f'?subject=unsubscribe%20{token}>",{ONE_CLICK_JSON}}}')
            parts.append(f'{{"address":{quote(item.given).decode()},"headers":{headers},'
                         f'"unsubscribe_url":"{u_prefix}{token}",'
                         f'"preferences_url":"{p_prefix}{pref}"'
                         f'{_code_fields(rt, item) if item.code else ""}}}')
        body = ",".join(parts).encode()
        yield body if start == 0 else b"," + body
    yield b"]}"
