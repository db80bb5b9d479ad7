"""The address-state query is written once (service/consent/queries.py) and composed into the
single-key form (the single check) and the keyed-join form (the bulk and streamed checks):
both forms must answer the same rows for every address, on both engines, or a bulk check and a
single check of one address could disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from service.consent.decision import lookup_state
from service.consent.state_queries import STATE_SQL
from service.suppression.bulk import fetch_rows, fetch_states
from tests.db.plans import fake_key, fill

KEYS = [fake_key(i) for i in range(7)] + ["e" * 64]  # the last one has no state at all


async def _vary(db) -> None:
    """Beyond fill()'s one preference and one suppression per address: a topic suppression, a
    second reason, a paused topic, a restricted contact, an address with nothing suppressed."""
    now = datetime.now(UTC)
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO suppression (channel, address_key, topic, reason, source, created_at,"
            " seq) VALUES ('email', $1, 'offers', 'complaint', 'test', $2, 0),"
            " ('email', $1, '', 'hard_bounce', 'test', $2, 0)", fake_key(1), now)
        await tx.execute(
            "INSERT INTO preference (contact_id, channel, topic, status, paused_until,"
            " updated_at, seq) VALUES ('c2', 'email', 'news', 'opted_in', $1, $2, 0)",
            now + timedelta(days=3), now)
        await tx.execute("UPDATE contact SET restricted = $1 WHERE id = 'c3'", True)
        await tx.execute("DELETE FROM suppression WHERE address_key = $1", fake_key(4))
        # c5 chose a weekly newsletter (fill); a weekly cap of 2 on the channel too
        await tx.execute("UPDATE preference SET max_per_week = 2 WHERE contact_id = 'c5'"
                         " AND topic = ''")


async def test_single_and_keyed_forms_answer_the_same_state(db):
    await fill(db, n=10)
    await _vary(db)
    keyed = await fetch_rows(db, "email", KEYS)
    states = await fetch_states(db, "email", KEYS)
    assert set(keyed) == set(KEYS[:-1])
    for key in KEYS:
        single = await lookup_state(db, "email", key)
        rows = sorted(tuple(r) for r in await db.fetch_read(STATE_SQL, "email", key))
        assert [r[:3] for r in rows] == [r[:3] for r in keyed.get(key, ())], key
        bulk = states.get(key)
        if bulk is None:
            assert not (single.suppressions or single.preferences or single.restricted), key
            continue
        assert sorted(bulk.suppressions) == sorted(single.suppressions), key
        assert bulk.restricted == single.restricted, key
        assert ([(t, s, u is not None) for t, s, u in sorted(bulk.preferences)]
                == [(t, s, u is not None) for t, s, u in sorted(single.preferences)]), key
        assert sorted(map(str, bulk.paced)) == sorted(map(str, single.paced)), key
    assert (await lookup_state(db, "email", fake_key(3))).restricted
    # the paced person's rows, one per choice: the cap of 2 with its 2nd most recent send on
    # the channel, the weekly newsletter with its last send
    paced = sorted((t, v) for t, v, sent in states[fake_key(5)].paced if sent is not None)
    assert paced == [("", "2"), ("newsletter", "weekly")]
    assert not states[fake_key(4)].paced  # sends recorded, but no frequency chosen: not read
    assert sorted(states[fake_key(1)].suppressions) == [
        ("", "hard_bounce"), ("", "unsubscribed"), ("offers", "complaint")]
    assert msgspec.json.encode(keyed[fake_key(0)]) == msgspec.json.encode(
        (("p", "", "opted_in", None, None, None), ("s", "", "unsubscribed", None, None, None)))

