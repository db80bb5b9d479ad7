"""Rule 7 of the send decision (frequency and weekly cap) at the edges of its windows, over
rows written by the real writers (`consent.pace.set_pace`, `sends.logic.write_sends`) and read
back by the one state query, on both engines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from service.consent.decision import decide, frequency_clear_at, lookup_state
from service.consent.ledger import Proof
from service.consent.pace import set_pace
from service.sends.logic import write_sends
from tests.consent.conftest import ACCOUNT, PRODUCT

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
# a soft-opt-in topic (allowed until opted out) that offers every frequency
NEWS = replace(PRODUCT, frequencies=("immediate", "daily", "weekly", "monthly"))
WINDOW = {"daily": timedelta(days=1), "weekly": timedelta(days=7),
          "monthly": timedelta(days=30)}
SECOND = timedelta(seconds=1)


async def pace(world, contact, topic=None, frequency=None, cap=None) -> bool:
    async with world.db.transaction() as tx:
        return await set_pace(tx, contact_id=contact, channel="email", topic=topic,
                              frequency=frequency, max_per_week=cap,
                              proof=Proof(source="api"), now=NOW - timedelta(days=40))


async def sent(world, topic: str, *when: datetime, address: str = "ann@example.com") -> None:
    for at in when:
        await write_sends(world.db, "email", topic, at, None, [world.key("email", address)])


async def answer(world, topic, now=NOW) -> tuple[list[str], datetime | None]:
    state = await lookup_state(world.db, "email", world.key("email", "ann@example.com"))
    return decide(state, topic, now), frequency_clear_at(state, topic, now)


@pytest.mark.parametrize("frequency", ["daily", "weekly", "monthly"])
async def test_a_frequency_blocks_until_the_window_after_the_last_send_ends(world, frequency):
    contact = await world.contact()
    assert await pace(world, contact, PRODUCT.key, frequency)
    last = NOW - timedelta(hours=1)
    await sent(world, PRODUCT.key, last - WINDOW[frequency] * 2, last)
    end = last + WINDOW[frequency]
    assert await answer(world, NEWS, end - SECOND) == (["frequency"], end)  # just before
    assert await answer(world, NEWS, end) == ([], None)  # at the end: allowed
    assert await answer(world, NEWS, end + SECOND) == ([], None)  # after


async def test_immediate_and_no_choice_are_never_limited(world):
    contact = await world.contact()
    await sent(world, PRODUCT.key, *(NOW - timedelta(minutes=m) for m in range(1, 20)))
    assert await answer(world, NEWS) == ([], None)
    assert await pace(world, contact, PRODUCT.key, "weekly")
    assert (await answer(world, NEWS))[0] == ["frequency"]
    assert await pace(world, contact, PRODUCT.key, "immediate")  # clears the choice
    assert await answer(world, NEWS) == ([], None)
    assert not await pace(world, contact, PRODUCT.key, "immediate")  # a repeat writes nothing


async def test_a_frequency_counts_only_sends_of_its_own_topic(world):
    contact = await world.contact()
    await pace(world, contact, PRODUCT.key, "monthly")
    await sent(world, "offers", NOW - timedelta(days=1))
    assert await answer(world, NEWS) == ([], None)
    other = replace(NEWS, key="offers")
    assert await answer(world, other) == ([], None)  # no frequency chosen for offers


@pytest.mark.parametrize("cap", [1, 2, 3])
async def test_the_weekly_cap_counts_every_marketing_send_of_the_last_7_days(world, cap):
    contact = await world.contact()
    assert await pace(world, contact, None, cap=cap)
    oldest = NOW - timedelta(days=6)
    times = [oldest + timedelta(hours=i) for i in range(cap)]
    await sent(world, "offers", NOW - timedelta(days=8))  # outside the 7 days: not counted
    for i, at in enumerate(times):
        await sent(world, (PRODUCT.key, "offers")[i % 2], at)
    leaves = oldest + timedelta(days=7)
    assert await answer(world, NEWS, leaves - SECOND) == (["frequency"], leaves)
    assert await answer(world, NEWS, leaves) == ([], None)
    assert await answer(world, None, leaves - SECOND) == (["frequency"], leaves)  # whole channel
    assert await answer(world, ACCOUNT, leaves - SECOND) == ([], None)  # never transactional


async def test_over_the_cap_the_next_send_waits_for_enough_sends_to_leave(world):
    contact = await world.contact()
    await pace(world, contact, None, cap=2)
    times = [NOW - timedelta(days=d) for d in (6, 5, 4)]  # three sends, cap two
    await sent(world, "offers", *times)
    # one must leave for the count to fall below the cap... two below it: the second oldest
    assert await answer(world, NEWS) == (["frequency"], times[1] + timedelta(days=7))


async def test_frequency_and_cap_together_clear_at_the_later_time(world):
    contact = await world.contact()
    await pace(world, contact, PRODUCT.key, "monthly")
    await pace(world, contact, None, cap=1)
    await sent(world, PRODUCT.key, NOW - timedelta(days=2))
    reasons, clear = await answer(world, NEWS)
    assert reasons == ["frequency"] and clear == NOW + timedelta(days=28)
    # the cap alone applies to other topics
    assert await answer(world, replace(NEWS, key="offers")) == (
        ["frequency"], NOW + timedelta(days=5))


async def test_frequency_comes_after_the_consent_rules_and_with_them(world):
    contact = await world.contact()
    await pace(world, contact, PRODUCT.key, "weekly")
    await sent(world, PRODUCT.key, NOW - timedelta(hours=1))
    await world.prefer(contact, "opt_out", PRODUCT.key)
    assert (await answer(world, NEWS))[0] == ["opted_out", "frequency"]
    await world.suppress("hard_bounce")
    assert (await answer(world, NEWS))[0] == ["hard_bounce", "opted_out", "frequency"]


async def test_a_pace_is_a_ledger_event_and_a_feed_row(world):
    contact = await world.contact()
    assert await pace(world, contact, PRODUCT.key, "weekly")
    assert await pace(world, contact, None, cap=3)
    assert not await pace(world, contact, None, cap=3)
    events = await world.db.fetch(
        "SELECT topic, action, detail FROM consent_event WHERE contact_id = $1"
        " AND action = 'frequency' ORDER BY id", contact)
    details = [(e["topic"], e["detail"] if isinstance(e["detail"], str) else str(e["detail"]))
               for e in events]
    assert [t for t, _ in details] == [PRODUCT.key, ""]
    assert "weekly" in details[0][1] and "3" in details[1][1]
    feed = await world.db.fetchval(
        "SELECT COUNT(*) FROM change_feed WHERE contact_id = $1 AND kind = 'preference'",
        contact)
    assert feed == 2
