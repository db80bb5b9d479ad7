"""What the preference centre shows: the person's channels x the operator's topics.

The state of every switch comes from the decision rules (`consent.decision.decide`), applied to
the part of the address state that switch controls:
- a channel switch looks at whole-channel preferences and suppressions (and hard ones): it is
  off when the person opted out of, or unsubscribed from, the whole channel;
- a topic switch looks at that topic's own preferences and suppressions: it is off when the
  person opted out or unsubscribed, or when the topic needs consent that was never given.
Other reasons (a complaint, a hard bounce, a register such as the TPS, a restriction) are not
the person's switch to flip here; they are shown as notes. A contact with several addresses on
a channel sees a switch on only when it is on for every address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from service.consent.decision import HARD_REASONS, AddressState, decide, lookup_state
from service.contacts.normalize import CHANNELS
from service.contacts.store import addresses_of
from service.db.tables import WHOLE_CHANNEL
from service.topics.cache import FREQUENCIES, TopicInfo

SELF_SERVICE = ("opted_out", "unsubscribed")  # what the person's own switch turns on and off


@dataclass(slots=True)
class TopicChoice:
    key: str
    name: str
    description: str
    transactional: bool
    on: bool
    notes: list[str]  # reasons blocking it that this page cannot change
    field: str
    sale_or_sharing: bool = False  # a Global Privacy Control signal switches it off
    frequencies: tuple[str, ...] = ()  # what the person may choose; shown with more than one
    frequency: str = "immediate"  # the person's choice (immediate: none)

    @property
    def frequency_field(self) -> str:
        return "freq." + self.field.removeprefix("topic.")


@dataclass(slots=True)
class ChannelChoice:
    channel: str
    shown_addresses: list[str]  # masked
    address_keys: list[str]
    on: bool
    notes: list[str]
    paused_until: datetime | None
    topics: list[TopicChoice] = field(default_factory=list)
    max_per_week: int | None = None  # the person's weekly cap on the channel

    @property
    def field(self) -> str:
        return f"channel.{self.channel}"

    @property
    def cap_field(self) -> str:
        return f"cap.{self.channel}"


@dataclass(slots=True)
class Centre:
    contact_id: str
    channels: list[ChannelChoice]

    @property
    def paused_until(self) -> datetime | None:
        times = [c.paused_until for c in self.channels if c.paused_until]
        return max(times) if times else None


def mask(channel: str, normalized: str) -> str:
    """Enough of an address to recognise it, not enough to read it off a shoulder."""
    if channel == "email":
        local, _, domain = normalized.rpartition("@")
        return f"{local[:1]}…@{domain}"
    if channel in ("sms", "phone", "fax"):
        return f"…{normalized[-3:]}"
    return ""


def _union(lists: Iterable[list[str]], exclude: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for reasons in lists:
        found += [r for r in reasons if r not in exclude and r not in found]
    return found


def channel_reasons(state: AddressState, now: datetime) -> list[str]:
    part = AddressState(
        suppressions=[(t, r) for t, r in state.suppressions
                      if t == WHOLE_CHANNEL or r in HARD_REASONS],
        preferences=[p for p in state.preferences if p[0] == WHOLE_CHANNEL],
        restricted=state.restricted,
    )
    return decide(part, None, now)


def topic_reasons(state: AddressState, topic: TopicInfo, now: datetime) -> list[str]:
    part = AddressState(
        suppressions=[(t, r) for t, r in state.suppressions if t == topic.key],
        preferences=[p for p in state.preferences if p[0] == topic.key],
    )
    return decide(part, topic, now)


def _paces(state: AddressState) -> dict[str, str]:
    """topic ('' for the whole channel) -> the frequency or weekly cap the person chose."""
    return {topic: value for topic, value, _sent in state.paced}


def offered_frequencies(topic: TopicInfo) -> tuple[str, ...]:
    """What the person may choose for a topic: `immediate` (no limit) always, then the
    topic's own frequencies, in the order of FREQUENCIES."""
    return tuple(f for f in FREQUENCIES if f == "immediate" or f in topic.frequencies)


def _paused_until(state: AddressState, now: datetime) -> datetime | None:
    for topic, _status, until in state.preferences:
        if topic == WHOLE_CHANNEL and until is not None:
            if not isinstance(until, datetime):
                until = datetime.fromisoformat(str(until))
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            return until if until > now else None
    return None


async def load_centre(conn, topics: dict[str, TopicInfo], contact_id: str,
                      now: datetime) -> Centre | None:
    """The page's model, read through `conn` (the database or a transaction); None when the
    contact no longer exists (erased) or has no address."""
    rows = await addresses_of(conn, contact_id)
    if not rows:
        return None
    channels = []
    for channel in CHANNELS:
        mine = [r for r in rows if r["channel"] == channel]
        if not mine:
            continue
        states = [await lookup_state(conn, channel, r["address_key"]) for r in mine]
        reasons = [channel_reasons(s, now) for s in states]
        choice = ChannelChoice(
            channel=channel,
            shown_addresses=[m for m in (mask(channel, r["normalized"]) for r in mine) if m],
            address_keys=[r["address_key"] for r in mine],
            on=not any(r in SELF_SERVICE for rs in reasons for r in rs),
            notes=_union(reasons, SELF_SERVICE + ("paused",)),
            paused_until=_paused_until(states[0], now),
        )
        paces = _paces(states[0])  # a pace is the contact's: the same for every address
        if WHOLE_CHANNEL in paces:
            choice.max_per_week = int(paces[WHOLE_CHANNEL])
        for topic in topics.values():
            if topic.archived or channel not in topic.channels:
                continue
            t_reasons = [topic_reasons(s, topic, now) for s in states]
            off = SELF_SERVICE + ("no_consent",)
            choice.topics.append(TopicChoice(
                key=topic.key, name=topic.name, description=topic.description,
                transactional=topic.transactional,
                on=topic.transactional or not any(r in off for rs in t_reasons for r in rs),
                notes=_union(t_reasons, off), field=f"topic.{channel}.{topic.key}",
                sale_or_sharing=topic.sale_or_sharing,
                frequencies=() if topic.transactional else offered_frequencies(topic),
                frequency=paces.get(topic.key, "immediate"),
            ))
        channels.append(choice)
    return Centre(contact_id=contact_id, channels=channels)
