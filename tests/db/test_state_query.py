"""The address-state query is written once (service/consent/queries.py) and composed into the
single-key form (the single check) and the keyed-join form (the bulk and streamed checks):
both forms must answer the same rows for every address, on both engines, or a bulk check and a
single check of one address could disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from service.consent.decision import lookup_state
from service.consent.state_queries import STATE, STATE_SQL
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



async def test_the_sharing_forms_agree_and_leave_out_the_tenants_own_bounces(db):
    """With SHARE_HARD_BOUNCES (decision D10) both forms add one `undeliverable` row per key
    that another tenant saw hard-bounce, however many did, and none for the asking tenant's
    own shared row (its own `hard_bounce` suppression says it already)."""
    await fill(db, n=10)
    now = datetime.now(UTC)
    claims = [(KEYS[0], 2), (KEYS[0], 3), (KEYS[1], 1), (KEYS[-1], 2)]
    async with db.transaction() as tx:
        await tx.executemany("INSERT INTO shared_bounce (channel, address_key, tenant_id,"
                             " created_at) VALUES ('email', $1, $2, $3)",
                             [(key, tenant, now) for key, tenant in claims])
    STATE.share_hard_bounces(True)
    try:
        keyed = await fetch_rows(db, "email", KEYS)
        single = {key: sorted(tuple(r) for r in await db.fetch_read(STATE.single, "email", key))
                  for key in KEYS}
        shared = await lookup_state(db, "email", KEYS[0])
    finally:
        STATE.share_hard_bounces(False)
    undeliverable = ("s", "", "undeliverable", None, None, None)
    assert keyed[KEYS[0]].count(undeliverable) == 1 and undeliverable in single[KEYS[0]]
    assert undeliverable not in keyed[KEYS[1]] and undeliverable not in single[KEYS[1]]
    assert keyed[KEYS[-1]] == (undeliverable,) and single[KEYS[-1]] == [undeliverable]
    for key in KEYS:
        assert [r[:3] for r in single[key]] == [r[:3] for r in keyed.get(key, ())], key
    assert ("", "undeliverable") in shared.suppressions
    # and with sharing off, the rows are there but not read
    assert all(undeliverable not in rows for rows in (await fetch_rows(db, "email", KEYS)).values())
