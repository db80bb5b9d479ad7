"""`consent.many.set_preferences` (the importer's bulk consent writer) follows the rules of
`consent.ledger.set_preference` change for change, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.consent.ledger import Proof, set_preference
from service.consent.many import CHANGED, STALE, UNCHANGED, Change, set_preferences

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=400)
# (action, paused_until): repeats, a pause, the same pause, a status under a pause, a resume
STEPS = [("opt_in", None), ("opt_in", None), ("paused", LATER), ("paused", LATER),
         ("opt_out", None), ("resumed", None), ("resumed", None), ("pending", None)]


async def _contact(db, contact_id: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO contact (id, external_ref, restricted, created_at,"
                         " updated_at) VALUES ($1, NULL, $2, $3, $3)", contact_id, False, NOW)


async def _written(db, contact_id: str) -> tuple:
    events = await db.fetch("SELECT channel, topic, action, source, address_key, detail"
                            " FROM consent_event WHERE contact_id = $1 ORDER BY id", contact_id)
    feed = await db.fetch("SELECT kind, op, channel, topic, value, source, address_key"
                          " FROM change_feed WHERE contact_id = $1 ORDER BY seq", contact_id)
    prefs = await db.fetch("SELECT channel, topic, status, paused_until FROM preference"
                           " WHERE contact_id = $1 ORDER BY channel, topic", contact_id)
    return ([tuple(e) for e in events], [tuple(f) for f in feed], [tuple(p) for p in prefs])


async def test_many_changes_write_what_one_by_one_writes(db):
    await _contact(db, "one")
    await _contact(db, "many")
    proof = Proof(source="import", campaign="spring")
    one = []
    for action, until in STEPS:
        async with db.transaction() as tx:
            one.append(await set_preference(
                tx, contact_id="one", channel="email", topic="news", action=action, proof=proof,
                paused_until=until, address_key="k" * 64, now=NOW))
    async with db.transaction() as tx:
        many = await set_preferences(tx, [
            Change("many", "email", "news", action, proof, until, "k" * 64)
            for action, until in STEPS], now=NOW)
    assert many == [CHANGED if changed else UNCHANGED for changed in one]
    assert await _written(db, "many") == await _written(db, "one")
    seq = await db.fetchval("SELECT MAX(seq) FROM change_feed WHERE contact_id = 'many'")
    assert await db.fetchval("SELECT seq FROM preference WHERE contact_id = 'many'") == seq


async def test_a_change_older_than_the_preference_held_is_stale_when_asked(db):
    await _contact(db, "c")
    proof = Proof(source="import")
    old = NOW - timedelta(days=30)
    async with db.transaction() as tx:
        outcomes = await set_preferences(tx, [
            Change("c", "sms", "", "opt_out", proof, occurred_at=NOW),
            Change("c", "sms", "", "opt_in", proof, occurred_at=old, unless_newer=True),
            Change("c", "sms", "", "opt_in", proof, occurred_at=old),  # not asked: applies
        ], now=NOW)
    assert outcomes == [CHANGED, STALE, CHANGED]
    assert await db.fetchval("SELECT status FROM preference WHERE contact_id = 'c'") == "opted_in"
    async with db.transaction() as tx:  # the preference now held is read back from the table
        again = await set_preferences(tx, [
            Change("c", "sms", "", "opt_out", proof, occurred_at=old - timedelta(days=1),
                   unless_newer=True)])
    assert again == [STALE]
