"""The send decision of the design brief: one set of rules, used by every check.

`decide()` is pure: it takes what the database holds for one address on one channel and answers
with the list of reasons that block sending (empty means allowed). `lookup_state()` fetches that
state in one query (`STATE.single`, service/consent/state_queries.py); the bulk check fetches
the same state for many addresses at once (`state_keyed_sql`, composed from the same parts)
and calls the same `decide()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from service.consent.state_queries import STATE
from service.db.tables import WHOLE_CHANNEL
from service.db.tenant_db import TenantDb, TenantTx
from service.topics.cache import TopicInfo

HARD_REASONS = ("hard_bounce", "invalid", "erased")
SOFT_REASONS = ("complaint", "unsubscribed", "manual", "external_list")
SUPPRESSION_REASONS = HARD_REASONS + SOFT_REASONS
# Another tenant's hard bounce of the address (SHARE_HARD_BOUNCES, decision D10): no suppression
# of this tenant, so never a reason to add or lift, but it blocks everything as a hard one does.
UNDELIVERABLE = "undeliverable"
BLOCKS_ALL = HARD_REASONS + (UNDELIVERABLE,)
STALE_LIST = "external_list_stale"
FREQUENCY = "frequency"
# every reason decide() may give (the enum of the check answers)
BLOCK_REASONS = SUPPRESSION_REASONS + ("restricted", "opted_out", "paused", "no_consent",
                                       STALE_LIST) + (FREQUENCY, UNDELIVERABLE)
# Rule 7 (docs/consent.md): rolling windows from the last send of the topic, and the weekly
# cap counted over the last 7 days. A send is inside a window while now < sent_at + window.
WINDOWS = {"daily": timedelta(days=1), "weekly": timedelta(days=7),
           "monthly": timedelta(days=30)}
CAP_WINDOW = timedelta(days=7)
LONGEST_WINDOW = max(*WINDOWS.values(), CAP_WINDOW)


@dataclass(slots=True)
class AddressState:
    """Everything the rules look at for one (channel, address key)."""

    suppressions: list[tuple[str, str]] = field(default_factory=list)  # (topic, reason)
    # (topic, status, paused_until) of the contact's preferences on this channel
    preferences: list[tuple[str, str, datetime | None]] = field(default_factory=list)
    restricted: bool = False
    # (topic, frequency or weekly cap, deciding send time or None) of a paced contact (rule 7),
    # one per choice: a frequency's last send of its topic; the cap's cap-th most recent send
    paced: list[tuple[str, str, object]] = field(default_factory=list)


def _as_datetime(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stale_lists(deadlines: Iterable[tuple[str, date]], topic: TopicInfo | None,
                now: datetime) -> list[str]:
    """The national do-not-call lists of a channel too old to screen against, for a check of
    `topic` at `now`: a marketing message may not go out on a channel whose list (TPS, DNC…)
    was not refreshed within its maximum age, since the law asks for screening against a
    current list (fail closed). `deadlines`: (list name, last day it is current) of the
    channel's lists, from the in-process cache (suppression/lists.py; no query per check).
    Transactional topics are not marketing: never blocked by a list."""
    if topic is not None and topic.transactional:
        return []
    today = now.astimezone(UTC).date()
    return [name for name, last_day in deadlines if today > last_day]


def decide(state: AddressState, topic: TopicInfo | None, now: datetime,
           stale: bool = False) -> list[str]:
    """Reasons that block sending `topic` (None: the channel as a whole); [] means allowed.
    `stale`: a list of the channel is past its maximum age and blocks (`stale_lists`, in
    `EXTERNAL_LIST_STALE=block` mode)."""
    reasons: list[str] = []
    topic_key = topic.key if topic is not None else None
    # 2. hard suppressions block everything, whatever the topic
    for _, reason in state.suppressions:
        if reason in BLOCKS_ALL and reason not in reasons:
            reasons.append(reason)
    transactional = topic is not None and topic.transactional
    # 3. soft suppressions on the whole channel or this topic, unless transactional
    if not transactional:
        for sup_topic, reason in state.suppressions:
            if (
                reason in SOFT_REASONS
                and (sup_topic == WHOLE_CHANNEL or sup_topic == topic_key)
                and reason not in reasons
            ):
                reasons.append(reason)
    # 4. transactional messages stop here
    if transactional:
        return reasons
    # 4b. a national list of the channel past its maximum age blocks all marketing
    if stale:
        reasons.append(STALE_LIST)
    if state.restricted:
        reasons.append("restricted")
    # 5. opt-outs and pauses, of the whole channel or this topic
    opted_in = False
    for pref_topic, status, paused_until in state.preferences:
        if pref_topic != WHOLE_CHANNEL and pref_topic != topic_key:
            continue
        if status == "opted_out" and "opted_out" not in reasons:
            reasons.append("opted_out")
        until = _as_datetime(paused_until)
        if until is not None and until > now and "paused" not in reasons:
            reasons.append("paused")
        if status == "opted_in" and pref_topic == topic_key:
            opted_in = True
    # 6. a topic that needs consent needs a confirmed opt-in to it
    if topic is not None and topic.needs_consent and not opted_in:
        reasons.append("no_consent")
    # 7. the person's frequency for the topic, or their weekly cap on the channel, is spent
    if state.paced and frequency_clear_at(state, topic, now) is not None:
        reasons.append(FREQUENCY)
    return reasons


def frequency_clear_at(state: AddressState, topic: TopicInfo | None,
                       now: datetime) -> datetime | None:
    """When rule 7 stops blocking `topic` (None: the channel as a whole, where only the cap
    applies), given no further sends; None when it does not block now. Transactional topics
    and `immediate` (stored as no frequency) are never limited."""
    if not state.paced or (topic is not None and topic.transactional):
        return None
    topic_key = topic.key if topic is not None else None
    clear: datetime | None = None
    for pace_topic, value, deciding in state.paced:
        if deciding is None:
            continue
        if pace_topic == WHOLE_CHANNEL:  # `deciding`: the cap-th most recent send
            window = CAP_WINDOW
        elif pace_topic == topic_key:  # `deciding`: the last send of the topic
            window = WINDOWS.get(value)
            if window is None:
                continue
        else:
            continue
        until = _as_datetime(deciding) + window
        if until > now and (clear is None or until > clear):
            clear = until
    return clear


def row_order(row) -> tuple:
    """The order of state rows within their kind: (kind, topic, value)."""
    return row[0], row[1], row[2]


def in_order(rows: list) -> list:
    """An address's state rows in `row_order`, the order the bulk check groups them in, so that
    both checks list reasons alike whichever index the plan read (an unanalysed table's plan
    may read the tenant's index on another column); a single row, the usual case, as it is."""
    return sorted(rows, key=row_order) if len(rows) > 1 else rows


def state_from_rows(rows: Iterable) -> AddressState:
    """The rows of the address-state query (kind, topic, value, until, pace, deciding) as an
    AddressState."""
    state = AddressState()
    for kind, topic, value, until, pace, deciding in rows:
        if kind == "s":
            state.suppressions.append((topic, value))
        elif kind == "p":
            state.preferences.append((topic, value, until))
            if pace is not None:
                state.paced.append((topic, pace, deciding))
        else:
            state.restricted = True
    return state


async def lookup_state(
    db: TenantDb | TenantTx, channel: str, address_key: str,
) -> AddressState:
    """The state of one address on one channel, in one query, on the primary or in the
    caller's transaction (the check itself reads through `fetch_read`, for its speed)."""
    return state_from_rows(in_order(await db.fetch(STATE.single, channel, address_key)))
