"""`consent.many` (the importer's bulk consent writer) writes what the single forms write,
change for change, on both engines: `set_preferences` what `consent.ledger.set_preference`
writes, and `apply_choices` what `consent.choice.apply_choice` writes, suppressions and feed
rows included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.consent.choice import apply_choice
from service.consent.ledger import Proof, set_preference
from service.consent.many import (
    CHANGED,
    STALE,
    UNCHANGED,
    Change,
    apply_choices,
    set_preferences,
)
from service.suppression.store import add_suppression

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=400)
# (action, paused_until): repeats, a pause, the same pause, a status under a pause, a resume
STEPS = [("opt_in", None), ("opt_in", None), ("paused", LATER), ("paused", LATER),
         ("opt_out", None), ("resumed", None), ("resumed", None), ("pending", None)]
# Batches of (channel, topic, action): a stop after STEPS' pending, its repeat, a resume, a
# stop of one topic, a resume of the whole channel that leaves the topic's suppressions.
BATCHES = [
    [("email", "news", a) for a, _ in STEPS[:4]] + [("email", "news", "opt_out")],
    [("email", "news", "opt_out"), ("sms", "", "opt_out"), ("email", "offers", "opt_out")],
    [("email", "news", "opt_in"), ("sms", "", "opt_in"), ("email", "", "opt_in")],
]
PROOF = Proof(source="import", campaign="spring")


async def _contact(db, contact_id: str, addresses=()) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO contact (id, external_ref, restricted, created_at,"
                         " updated_at) VALUES ($1, NULL, $2, $3, $3)", contact_id, False, NOW)
        for channel, key in addresses:
            await tx.execute("INSERT INTO address (contact_id, channel, address_key, normalized,"
                             " given, created_at) VALUES ($1, $2, $3, $4, $4, $5)",
                             contact_id, channel, key, key, NOW)


def _addresses(contact_id: str) -> list[tuple[str, str]]:
    """Two email addresses and a number, keyed by the contact's id so rows can be compared."""
    return [("email", f"{contact_id}-a"), ("email", f"{contact_id}-b"), ("sms", f"{contact_id}-s")]


async def _written(db, contact_id: str) -> tuple:
    """What was written for the contact, its own id and key prefix replaced by `X`."""
    events = await db.fetch("SELECT channel, topic, action, source, address_key, detail"
                            " FROM consent_event WHERE contact_id = $1 ORDER BY id", contact_id)
    feed = await db.fetch("SELECT kind, op, channel, topic, value, source, address_key"
                          " FROM change_feed WHERE contact_id = $1 OR address_key LIKE $2"
                          " ORDER BY seq", contact_id, f"{contact_id}-%")
    prefs = await db.fetch("SELECT channel, topic, status, paused_until FROM preference"
                           " WHERE contact_id = $1 ORDER BY channel, topic", contact_id)
    suppressions = await db.fetch("SELECT channel, address_key, topic, reason, source, contact_id"
                                  " FROM suppression WHERE address_key LIKE $1"
                                  " ORDER BY channel, address_key, topic, reason",
                                  f"{contact_id}-%")

    def rows(found) -> list[tuple]:
        return [tuple(str(v).replace(contact_id, "X") if isinstance(v, str) else v for v in r)
                for r in found]

    feed = rows(feed)
    # One call writes its preference rows, then its suppression rows by key: the same rows,
    # in that order within each kind and address.
    return (rows(events), [f for f in feed if f[0] == "preference"],
            sorted(f for f in feed if f[0] == "suppression"), rows(prefs), rows(suppressions))


async def test_many_changes_write_what_one_by_one_writes(db):
    await _contact(db, "one")
    await _contact(db, "many")
    one = []
    for action, until in STEPS:
        async with db.transaction() as tx:
            one.append(await set_preference(
                tx, contact_id="one", channel="email", topic="news", action=action, proof=PROOF,
                paused_until=until, address_key="k" * 64, now=NOW))
    async with db.transaction() as tx:
        many = await set_preferences(tx, [
            Change("many", "email", "news", action, PROOF, until, "k" * 64)
            for action, until in STEPS], now=NOW)
    assert many == [CHANGED if changed else UNCHANGED for changed in one]
    assert await _written(db, "many") == await _written(db, "one")
    seq = await db.fetchval("SELECT MAX(seq) FROM change_feed WHERE contact_id = 'many'")
    assert await db.fetchval("SELECT seq FROM preference WHERE contact_id = 'many'") == seq


async def test_many_choices_write_what_apply_choice_writes_one_by_one(db):
    for contact_id in ("one", "many"):
        await _contact(db, contact_id, _addresses(contact_id))
        async with db.transaction() as tx:  # not the person's own switch: never lifted
            await add_suppression(tx, channel="email", address_key=f"{contact_id}-a",
                                  reason="complaint", source="esp", now=NOW)
            await add_suppression(tx, channel="sms", address_key=f"{contact_id}-s",
                                  reason="hard_bounce", source="esp", now=NOW)
    for batch in BATCHES:
        one = []
        for channel, topic, action in batch:
            async with db.transaction() as tx:
                if action in ("opt_in", "opt_out"):
                    one.append(bool(await apply_choice(
                        tx, stop=action == "opt_out", channel=channel, topic=topic or None,
                        proof=PROOF, contact_id="one", now=NOW)))
                else:
                    one.append(await set_preference(
                        tx, contact_id="one", channel=channel, topic=topic, action=action,
                        proof=PROOF, paused_until=LATER if action == "paused" else None,
                        now=NOW))
        async with db.transaction() as tx:
            many = await apply_choices(tx, [
                Change("many", channel, topic, action, PROOF,
                       LATER if action == "paused" else None,
                       "many-s" if channel == "sms" else None)  # named when it is the one
                for channel, topic, action in batch], now=NOW)
        assert len(many) == len(one)
        assert await _written(db, "many") == await _written(db, "one")
    reasons = await db.fetch("SELECT channel, topic, reason FROM suppression"
                             " WHERE address_key LIKE 'many-%' ORDER BY address_key, topic")
    assert [tuple(r) for r in reasons] == [
        ("email", "", "complaint"), ("email", "offers", "unsubscribed"),
        ("email", "offers", "unsubscribed"), ("sms", "", "hard_bounce")]


async def test_named_addresses_and_the_last_choice_of_each_count(db):
    await _contact(db, "c", _addresses("c"))
    async with db.transaction() as tx:
        await apply_choices(tx, [
            Change("c", "email", "", "opt_out", PROOF, address_keys=["c-a"]),  # only this one
            Change("c", "sms", "", "opt_out", PROOF),
            Change("c", "sms", "", "opt_in", PROOF),  # the last choice on sms: nothing left
        ], now=NOW)
    rows = await db.fetch("SELECT channel, address_key, reason, source, contact_id"
                          " FROM suppression ORDER BY seq")
    assert [tuple(r) for r in rows] == [("email", "c-a", "unsubscribed", "import", "c")]
    feed = await db.fetch("SELECT op, address_key FROM change_feed WHERE kind = 'suppression'")
    assert [tuple(f) for f in feed] == [("added", "c-a")]


async def test_a_change_older_than_the_preference_held_is_stale_when_asked(db):
    await _contact(db, "c", [("sms", "c-s")])
    proof = Proof(source="import")
    old = NOW - timedelta(days=30)
    async with db.transaction() as tx:
        outcomes = await apply_choices(tx, [
            Change("c", "sms", "", "opt_out", proof, occurred_at=NOW),
            Change("c", "sms", "", "opt_in", proof, occurred_at=old, unless_newer=True),
        ], now=NOW)
    assert outcomes == [CHANGED, STALE]
    assert await db.fetchval("SELECT status FROM preference WHERE contact_id = 'c'") == "opted_out"
    assert await db.fetchval("SELECT reason FROM suppression") == "unsubscribed"  # not lifted
    async with db.transaction() as tx:
        outcomes = await apply_choices(tx, [
            Change("c", "sms", "", "opt_in", proof, occurred_at=old),  # not asked: applies
        ], now=NOW)
    assert outcomes == [CHANGED]
    assert await db.fetchval("SELECT status FROM preference WHERE contact_id = 'c'") == "opted_in"
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0
    async with db.transaction() as tx:  # the preference now held is read back from the table
        again = await apply_choices(tx, [
            Change("c", "sms", "", "opt_out", proof, occurred_at=old - timedelta(days=1),
                   unless_newer=True)])
    assert again == [STALE]
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0  # a stale stop adds none
