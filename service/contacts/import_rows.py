"""Checking the rows of a contacts CSV file (`RowParser`), outside any transaction.

One row is one contact: its addresses (one per channel column, or the long format's `channel` +
`address`) and an optional consent that applies to each of its channels. A row that cannot be
imported raises RowError, naming the column as the file spells it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.consent.ledger import Proof
from service.consent.logic import check_topic
from service.consent.many import Change
from service.contacts.import_columns import Columns
from service.contacts.logic import ParsedAddress
from service.contacts.normalize import CHANNELS, AddressError
from service.db.tables import WHOLE_CHANNEL
from service.errors import InputError

ACTIONS = {"opted_in": "opt_in", "opted_out": "opt_out"}
MAX_TEXT = {"external_ref": 255, "wording_version": 100, "campaign": 200, "ip": 64,
            "user_agent": 1000}


class RowError(ValueError):
    pass


@dataclass(slots=True)
class Row:
    line: int
    external_ref: str | None
    addresses: tuple[ParsedAddress, ...]  # distinct (channel, key); `field` is the column
    topic: str | None
    action: str | None
    paused_until: datetime | None
    occurred_at: datetime | None
    proof: Proof
    cells: list[str]
    consent: list[list[Change]]  # per channel, written with the row's contact


def _cell(cells: list[str], cols: Columns, name: str) -> str | None:
    i = cols.single.get(name)
    if i is None or i >= len(cells):
        return None
    value = cells[i].strip()
    if not value:
        return None
    if "\x00" in value:
        raise RowError(f"{cols.name(name)}: contains a NUL character")
    if name in MAX_TEXT and len(value) > MAX_TEXT[name]:
        raise RowError(f"{cols.name(name)}: longer than {MAX_TEXT[name]} characters")
    return value


def _time(cells: list[str], cols: Columns, name: str) -> datetime | None:
    value = _cell(cells, cols, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"{cols.name(name)}: not an ISO 8601 time, like 2026-11-22T10:00:00Z"
                       ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


_PROOF_FIELDS = ("ip", "user_agent", "wording_version", "campaign")
IMPORT_PROOF = Proof(source="import")


class RowParser:
    """Checks rows of one file (`parse`), without writing; RowError says what is wrong, naming
    the column."""

    def __init__(self, rt: Any, cols: Columns):
        self.rt, self.cols = rt, cols
        self.parse_address = rt.parse_address
        single = cols.single
        self.long = single.get("address")
        self.addresses = [(i, channel, cols.names[i].strip() or channel)
                          for i, channel in cols.addresses]
        self.consent = any(f in single for f in ("topic", "status", "paused_until"))
        self.times = "paused_until" in single or "occurred_at" in single
        self.proof = any(f in single for f in _PROOF_FIELDS)
        self.ref = "external_ref" in single
        self.checked: dict[tuple[str, str], str | None] = {}  # (channel, topic) -> problem

    def _address(self, channel: str, given: str, column: str) -> ParsedAddress:
        if "\x00" in given:
            raise RowError(f"{column}: contains a NUL character")
        try:
            normalized, key = self.parse_address(channel, given)
        except AddressError as exc:
            raise RowError(f"{column}: {exc}") from None
        return ParsedAddress(column, channel, normalized, key, given.strip())

    async def _check_topic(self, channel: str, topic: str) -> None:
        # Topics are few: each (channel, topic) is checked once per batch of rows (`forget()`
        # between batches), so a topic archived while the file is read is refused from the
        # next batch on.
        problem = self.checked.get((channel, topic), "")
        if problem == "":
            try:
                await check_topic(self.rt.db, self.rt.topics, channel, topic, "topic")
                problem = None
            except InputError as exc:
                problem = exc.message
            self.checked[(channel, topic)] = problem
        if problem is not None:
            raise RowError(f"{self.cols.name('topic')}: {problem}")

    def forget(self) -> None:
        self.checked.clear()

    async def parse(self, cells: list[str], line: int) -> Row:
        cols = self.cols
        found: dict[tuple[str, str], ParsedAddress] = {}
        n = len(cells)
        if self.long is not None:  # the long format: channel + address
            channel = _cell(cells, cols, "channel") or cols.default_channel
            if channel is None:
                raise RowError(f"{cols.name('channel')}: empty (give a channel column or "
                               "--channel)")
            if channel not in CHANNELS:
                raise RowError(f"{cols.name('channel')}: {channel!r} is not one of "
                               f"{', '.join(CHANNELS)}")
            a = self._address(channel, cells[self.long] if self.long < n else "",
                              cols.name("address"))
            found[(channel, a.key)] = a
        for i, channel, column in self.addresses:  # one per channel column; empty cells skipped
            if i < n and not cells[i].isspace() and cells[i]:
                a = self._address(channel, cells[i], column)
                if (channel, a.key) not in found:
                    found[(channel, a.key)] = a
        if not found:
            raise RowError("no address: the address columns ("
                           f"{', '.join(column for _, _, column in self.addresses)}) are all "
                           "empty")
        topic = action = paused_until = occurred_at = None
        if self.consent:
            topic, status = _cell(cells, cols, "topic"), _cell(cells, cols, "status")
            if topic is not None:
                for channel in dict.fromkeys(a.channel for a in found.values()):
                    await self._check_topic(channel, topic)
            if status is not None:
                action = ACTIONS.get(status)
                if action is None:
                    raise RowError(f"{cols.name('status')}: {status!r} is not opted_in, "
                                   "opted_out or empty")
        if self.times:
            paused_until = _time(cells, cols, "paused_until")
            occurred_at = _time(cells, cols, "occurred_at")
            now = datetime.now(UTC)
            if paused_until is not None and paused_until <= now:
                raise RowError(f"{cols.name('paused_until')}: in the past")
            if occurred_at is not None and occurred_at > now:
                raise RowError(f"{cols.name('occurred_at')}: in the future")
        proof = IMPORT_PROOF
        if self.proof:
            proof = Proof(source="import", ip=_cell(cells, cols, "ip"),
                          user_agent=_cell(cells, cols, "user_agent"),
                          wording_version=_cell(cells, cols, "wording_version"),
                          campaign=_cell(cells, cols, "campaign"))
        ref = _cell(cells, cols, "external_ref") if self.ref else None
        addresses = tuple(found.values())
        return Row(line, ref, addresses, topic, action, paused_until, occurred_at, proof, cells,
                   _consent(addresses, topic, action, paused_until, occurred_at, proof))


async def parse_row(rt: Any, cells: list[str], line: int, cols: Columns) -> Row:
    """Check one row without writing (RowParser.parse, for one row)."""
    return await RowParser(rt, cols).parse(cells, line)

def _consent(addresses: Sequence[ParsedAddress], topic: str | None, action: str | None,
             paused_until: datetime | None, occurred_at: datetime | None,
             proof: Proof) -> list[list[Change]]:
    """A row's consent on each of its channels (named on its first address there), with the
    contact left to fill in: one list of changes per channel."""
    actions = [(action, None)] if action else []
    if paused_until:
        actions.append(("paused", paused_until))
    if not actions:
        return []
    first_of: dict[str, str] = {}
    for a in addresses:
        first_of.setdefault(a.channel, a.key)
    return [[Change("", channel, topic or WHOLE_CHANNEL, act, proof, until, key, occurred_at,
                    occurred_at is not None) for act, until in actions]
            for channel, key in first_of.items()]
