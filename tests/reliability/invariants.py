"""What "nothing half-written" means, checked on the whole database after a run.

Every change to a preference or a suppression is written in one transaction as: the state row,
its change-feed row (`seq`), and for preferences a ledger event (`consent_event`). So, whatever
was interrupted and whatever raced:
- every suppression has its feed row (same seq, channel, key, topic, reason);
- every preference has its feed row (same seq, contact, channel, topic, status);
- the ledger's state events and the preference feed rows match one to one (contact, channel,
  topic, time, resulting status);
- per (contact, channel, topic) the ledger's events each change the status (no duplicate
  event for one change) and the last one is the state;
- a one-click unsubscribe wrote both its opt-out event and its `unsubscribed` suppressions
  (lifted again only by a later opt-in);
- every contact has an address (an upsert never leaves a contact without one);
- on SQLite the feed numbers run 1..N without a hole (PostgreSQL may leave holes from rolled-
  back transactions, which readers never wait for; the feed test follows it through the API).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

from service.consent.ledger import ACTIONS, STATUS_AFTER

# the feed value each ledger action writes (pause and resume keep the status)
FEED_VALUE = {**STATUS_AFTER, "paused": "paused"}


def _when(value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


async def violations(db) -> list[str]:
    """Every broken invariant, as readable lines (empty: all hold)."""
    problems: list[str] = []

    orphans = await db.fetch(
        "SELECT s.id, s.seq FROM suppression s LEFT JOIN change_feed f ON f.seq = s.seq"
        " AND f.kind = 'suppression' AND f.op = 'added' AND f.channel = s.channel"
        " AND f.address_key = s.address_key AND f.topic = s.topic AND f.value = s.reason"
        " WHERE f.seq IS NULL")
    problems += [f"suppression {r['id']} (seq {r['seq']}) has no matching feed row"
                 for r in orphans]

    prefs = await db.fetch(
        "SELECT p.contact_id, p.channel, p.topic, p.status, p.paused_until, p.seq, f.value"
        " FROM preference p LEFT JOIN change_feed f ON f.seq = p.seq AND f.kind = 'preference'"
        " AND f.contact_id = p.contact_id AND f.channel = p.channel AND f.topic = p.topic")
    for r in prefs:
        if r["value"] is None:
            problems.append(f"preference {tuple(r)[:3]} (seq {r['seq']}) has no feed row")
        elif r["value"] not in (r["status"], "paused"):
            problems.append(f"preference {tuple(r)[:3]} is {r['status']} but its feed row "
                            f"says {r['value']}")

    marks = ", ".join(f"'{a}'" for a in ACTIONS)
    events = await db.fetch(
        "SELECT id, contact_id, channel, topic, action, source, occurred_at FROM consent_event"
        f" WHERE action IN ({marks}) ORDER BY id")
    feed = await db.fetch(
        "SELECT seq, contact_id, channel, topic, value, occurred_at FROM change_feed"
        " WHERE kind = 'preference' ORDER BY seq")
    def key(row) -> tuple:
        return row["contact_id"], row["channel"], row["topic"], _when(row["occurred_at"])

    # one feed row per state event, at the same time; its value is the status the event
    # leaves (a resume keeps whatever status there was: only its presence is compared)
    resumed = {key(e) for e in events if e["action"] == "resumed"}
    ledger_side = Counter(key(e) + (FEED_VALUE[e["action"]],) for e in events
                          if e["action"] != "resumed")
    feed_side = Counter(key(f) + (f["value"],) for f in feed if key(f) not in resumed)
    if ledger_side != feed_side or len(events) != len(feed):
        problems.append(f"ledger events without feed rows: {list(ledger_side - feed_side)[:5]};"
                        f" feed rows without ledger events: {list(feed_side - ledger_side)[:5]};"
                        f" {len(events)} events, {len(feed)} feed rows")

    state = {(r["contact_id"], r["channel"], r["topic"]): r["status"] for r in prefs}
    history: dict[tuple, list[str]] = defaultdict(list)
    for e in events:
        if e["action"] in STATUS_AFTER:
            history[(e["contact_id"], e["channel"], e["topic"])].append(STATUS_AFTER[e["action"]])
    for key, statuses in history.items():
        repeats = [i for i in range(1, len(statuses)) if statuses[i] == statuses[i - 1]]
        if repeats:
            problems.append(f"{key}: ledger records {statuses[repeats[0]]} twice in a row "
                            f"({statuses})")
        if state.get(key) != statuses[-1]:
            problems.append(f"{key}: state {state.get(key)} but last ledger event "
                            f"{statuses[-1]}")

    missing = await db.fetch(
        "SELECT e.id FROM consent_event e JOIN address a ON a.contact_id = e.contact_id"
        " AND a.channel = e.channel WHERE e.source = 'one_click' AND e.action = 'opt_out'"
        " AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.channel = a.channel"
        " AND s.address_key = a.address_key AND s.topic = e.topic"
        " AND s.reason = 'unsubscribed') AND EXISTS (SELECT 1 FROM preference p"
        " WHERE p.contact_id = e.contact_id AND p.channel = e.channel AND p.topic = e.topic"
        " AND p.status = 'opted_out')")  # a later opt-in lifts it
    problems += [f"one-click event {r['id']} without its suppression" for r in missing]
    unproven = await db.fetch(
        "SELECT s.id FROM suppression s WHERE s.source = 'one_click' AND NOT EXISTS ("
        " SELECT 1 FROM consent_event e WHERE e.contact_id = s.contact_id"
        " AND e.channel = s.channel AND e.topic = s.topic AND e.action = 'opt_out')")
    problems += [f"one-click suppression {r['id']} without its ledger event" for r in unproven]

    lonely = await db.fetch("SELECT c.id FROM contact c WHERE NOT EXISTS ("
                            " SELECT 1 FROM address a WHERE a.contact_id = c.id)")
    problems += [f"contact {r['id']} has no address" for r in lonely]

    if db.is_sqlite:
        count, low, high = await db.fetchrow(
            "SELECT COUNT(*), COALESCE(MIN(seq), 1), COALESCE(MAX(seq), 0) FROM change_feed")
        if count and (low != 1 or high != count):
            problems.append(f"feed numbers {low}..{high} hold {count} rows: a hole")
    return problems


async def duplicates(db) -> list[str]:
    """Rows that should be unique but are not (the unique indexes should make this empty)."""
    found = []
    for sql, what in (
        ("SELECT channel, address_key, COUNT(*) FROM address GROUP BY channel, address_key"
         " HAVING COUNT(*) > 1", "address"),
        ("SELECT external_ref, COUNT(*) FROM contact WHERE external_ref IS NOT NULL"
         " GROUP BY external_ref HAVING COUNT(*) > 1", "external_ref"),
        ("SELECT contact_id, channel, topic, COUNT(*) FROM preference"
         " GROUP BY contact_id, channel, topic HAVING COUNT(*) > 1", "preference"),
        ("SELECT channel, address_key, topic, reason, COUNT(*) FROM suppression"
         " GROUP BY channel, address_key, topic, reason HAVING COUNT(*) > 1", "suppression"),
        ("SELECT seq, COUNT(*) FROM change_feed GROUP BY seq HAVING COUNT(*) > 1", "feed seq"),
    ):
        found += [f"duplicate {what}: {tuple(r)}" for r in await db.fetch(sql)]
    return found
