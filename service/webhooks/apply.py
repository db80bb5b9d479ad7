"""Writing ESP events: suppressions with source `esp_webhook`, and soft-bounce counting.

Hard bounces, complaints, unsubscribes and invalid addresses become suppressions of the email
channel (a topic only when the provider named one this service knows), recorded at the time they
arrive (the feed's times follow its order; the provider's time goes into the ledger detail),
through the shared writer, so each gets its change-feed entry and, when a contact holds the
address, a ledger event (`suppressed`, source `esp_webhook`, the provider's message id as
message_ref).

An unsubscribe is the person's own choice made at the ESP, so it is applied like any other
source's, by `consent.choice.apply_choice`: when a contact holds the address, the contact's
opt-out of (email, topic) is recorded (ledger event `opt_out`, source `esp_webhook`, with the
provider and its event time in the detail) and every address it holds on email gets the
`unsubscribed` suppression; an address nobody holds gets the suppression alone.

Soft bounces are counted per address in `soft_bounce` (an event seen twice, same time, counts
once); SOFT_BOUNCE_LIMIT of them within SOFT_BOUNCE_WINDOW_DAYS make the address `invalid`: a
mailbox that has failed temporarily that often is undeliverable in practice, but it never
bounced permanently, so it is not called a hard bounce. `invalid` blocks everything and may be
lifted through the API once the address works again. Older counts are dropped as they expire.

With the operator's SHARE_HARD_BOUNCES (decision D10), a hard bounce is also written to the
global `shared_bounce` table, which every other tenant's checks read as `undeliverable`: a
mailbox that does not exist is a fact about the address, not about this tenant's relationship
with the person. Complaints, unsubscribes and soft-bounce `invalid`s are never shared (the first
two are the person's word to this sender; the last is a guess from temporary failures).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.consent.choice import apply_choice
from service.consent.ledger import Proof
from service.contacts.normalize import AddressError
from service.runtime import Runtime
from service.suppression.store import add_suppressions, contacts_of, share_hard_bounce
from service.webhooks import queries as q
from service.webhooks.events import SUPPRESSING, EspEvent

CHANNEL = "email"


@dataclass
class Applied:
    received: int = 0
    suppressed: int = 0
    soft_bounces: int = 0
    ignored: int = 0


async def apply_events(rt: Runtime, events: list[EspEvent]) -> Applied:
    """Write the events in one transaction; unusable addresses are counted as ignored."""
    result = Applied(received=len(events))
    keyed: list[tuple[EspEvent, str, str | None]] = []
    topics = await rt.topics.all(rt.db)
    for event in events:
        try:
            key = rt.parse_address(CHANNEL, event.address)[1]
        except AddressError:
            result.ignored += 1
            continue
        topic = event.topic if event.topic in topics and \
            CHANNEL in topics[event.topic].channels else None
        keyed.append((event, key, topic))
    if not keyed:
        return result
    settings = rt.settings
    async with rt.db.transaction() as tx:
        for event, key, topic in keyed:
            proof = Proof(source="esp_webhook", message_ref=(event.message_ref or "")[:200]
                          or None)
            detail = {"provider": event.provider, "event_time": event.occurred_at.isoformat()}
            if event.kind == "unsubscribed":
                holder = (await contacts_of(tx, CHANNEL, [key])).get(key)
                outcome = await apply_choice(
                    tx, stop=True, channel=CHANNEL, topic=topic, proof=proof, contact_id=holder,
                    address_keys=None if holder else [key], detail=detail)
                result.suppressed += outcome.suppressions
                continue
            if event.kind in SUPPRESSING:
                added = await add_suppressions(
                    tx, channel=CHANNEL, address_keys=[key], reason=event.kind,
                    source="esp_webhook", topic=topic, proof=proof, detail=detail)
                result.suppressed += len(added)
                if event.kind == "hard_bounce" and settings.share_hard_bounces:
                    # even when this tenant had the suppression already: sharing may have
                    # been turned on since, and the row is written once
                    await share_hard_bounce(tx, channel=CHANNEL, address_key=key,
                                            now=datetime.now(UTC))
                continue
            result.soft_bounces += 1
            window_start = event.occurred_at - timedelta(days=settings.soft_bounce_window_days)
            await tx.execute(q.FORGET_SOFT_BOUNCES, CHANNEL, key, window_start)
            seen = await tx.fetchval(q.SOFT_BOUNCE_SEEN, CHANNEL, key, event.occurred_at)
            if not seen:
                await tx.execute(q.ADD_SOFT_BOUNCE, CHANNEL, key, event.occurred_at)
            count = await tx.fetchval(q.COUNT_SOFT_BOUNCES, CHANNEL, key, window_start)
            if count >= settings.soft_bounce_limit:
                added = await add_suppressions(
                    tx, channel=CHANNEL, address_keys=[key], reason="invalid",
                    source="esp_webhook", proof=proof,
                    detail={"provider": event.provider, "soft_bounces": int(count)})
                result.suppressed += len(added)
    return result
