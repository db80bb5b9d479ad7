"""Applying one inbound SMS: STOP, START, HELP, once per provider message id.

- stop: the number's whole `sms` channel, through `consent.choice.apply_choice` like every other
  source (source `sms_keyword`, the message text, provider and message id in the ledger detail).
  The suppression is keyed on the sender's number alone, not on which of our numbers was
  texted, so one STOP covers every sending number of the business at once. A number nobody
  holds is suppressed all the same (a suppression without a contact).
- start: only from a number that stopped (it holds a whole-channel `unsubscribed` suppression):
  a START from any other number changes nothing, so nobody can opt someone else back in.
- help: a reply naming the organisation, its support contact, the rates notice and how to stop.

A provider retries a message it got no answer for: the (provider, message_id) row makes the
retry return the outcome stored the first time, write nothing and send no second reply. Its
check and the writes run in one transaction under the feed lock, so two deliveries racing each
other cannot both write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from service.consent.choice import apply_choice
from service.consent.ledger import Proof
from service.contacts.normalize import AddressError
from service.contacts.store import contact_for_address
from service.errors import InputError
from service.runtime import Runtime
from service.sms import queries as q
from service.sms.inbound import InboundSms, international
from service.sms.keywords import classify

CHANNEL = "sms"
SOURCE = "sms_keyword"
# what became of a message (stored per message id; the answer to a retry)
OUTCOMES = ("opted_out", "already_opted_out", "opted_in", "not_opted_out", "help", "ignored")
RATES = "Msg & data rates may apply."
MAX_ID = 100  # sms_message.message_id; providers' ids are 16-36 characters


@dataclass(frozen=True, slots=True)
class Received:
    outcome: str  # one of OUTCOMES
    reply: str | None = None  # the text to send back, if any (never marketing)
    repeat: bool = False  # the provider sent this message id before


def stop_reply(org: str) -> str:
    return (f"{org}: You will receive no more messages from us. "
            "Reply START to subscribe again.")


def start_reply(org: str) -> str:
    return f"{org}: You are subscribed again. {RATES} Reply HELP for help, STOP to stop."


def help_reply(org: str, support: str) -> str:
    contact = f" Help: {support}." if support else ""
    return f"{org}:{contact} {RATES} Reply STOP to stop, START to resume."


async def receive(rt: Runtime, message: InboundSms, now: datetime | None = None) -> Received:
    """Apply `message` once; a repeat of its message id gets the stored outcome, no reply."""
    if not message.message_id or len(message.message_id) > MAX_ID:
        raise InputError("message_id", f"the provider's message id is missing or longer than "
                                       f"{MAX_ID} characters")
    now = now or datetime.now(UTC)
    settings = rt.settings
    kind = message.keyword or classify(message.text, settings.sms_keywords)
    key = None
    if kind in ("stop", "start"):
        try:
            key = rt.parse_address(CHANNEL, international(message.from_number))[1]
        except AddressError:
            kind = None  # a short code or alphanumeric sender: nobody to stop or resume
    async with rt.db.transaction() as tx:
        await tx.lock_feed()  # the repeat check and the writes below, one delivery at a time
        seen = await tx.fetchval(q.SEEN_OUTCOME, message.provider, message.message_id)
        if seen is not None:
            return Received(outcome=seen, repeat=True)
        outcome, reply = "ignored", None
        if kind == "help":
            outcome, reply = "help", help_reply(settings.org_name, settings.org_support_contact)
        elif kind == "stop" and key is not None:
            holder = await contact_for_address(tx, CHANNEL, key)
            changed = await apply_choice(
                tx, stop=True, channel=CHANNEL, topic=None, proof=_proof(message),
                contact_id=holder, address_keys=None if holder else [key],
                detail=_detail(message), now=now)
            outcome = "opted_out" if changed else "already_opted_out"
            reply = stop_reply(settings.org_name) if changed else None
        elif kind == "start" and key is not None:
            outcome = "not_opted_out"
            if await tx.fetchval(q.NUMBER_STOPPED, CHANNEL, key):
                holder = await contact_for_address(tx, CHANNEL, key)
                await apply_choice(
                    tx, stop=False, channel=CHANNEL, topic=None, proof=_proof(message),
                    contact_id=holder, address_keys=None if holder else [key],
                    detail=_detail(message), now=now)
                outcome, reply = "opted_in", start_reply(settings.org_name)
        await tx.execute(q.RECORD_MESSAGE, message.provider, message.message_id, now, outcome)
    if message.provider_replied:
        reply = None
    return Received(outcome=outcome, reply=reply)


def _proof(message: InboundSms) -> Proof:
    return Proof(source=SOURCE, message_ref=f"{message.provider}:{message.message_id}"[:200])


def _detail(message: InboundSms) -> dict:
    """The proof of what the person sent: the text as received, and where it came through."""
    return {"provider": message.provider, "message_id": message.message_id,
            "text": message.text[:1600], "to": message.to_number}
