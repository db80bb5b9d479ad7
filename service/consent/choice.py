"""A person's choice to stop or resume: one meaning, whatever the source.

Every source calls `apply_choice`: the one-click link, the unsubscribe page and its undo, mailto,
the preference centre, `PUT /v1/contacts/{id}/preferences`, ESP unsubscribe events, double
opt-in, the demo seed, SMS STOP/START keywords (service/sms) and printed opt-out codes
(service/codes). One function, so "opted out" means the same to the send decision and to a
mailer that only mirrors `GET /v1/suppressions`:
- stop (`opt_out`) records the preference with its ledger event (`set_preference`) and adds an
  `unsubscribed` suppression for (channel, topic or whole channel) to every address concerned,
  each with its change-feed row;
- resume (`opt_in`, or `confirmed` after a double opt-in) records the preference and lifts
  exactly the `unsubscribed` suppressions of that (channel, topic) from those addresses. Other
  reasons (complaint, hard_bounce, invalid, erased, manual, external_list) are never lifted
  here: they are not the person's own switch.

The addresses concerned are the ones the caller names (`address_keys`: the one-click already
read them in its single look-up; a double opt-in proves control of one address only), else
every address the contact holds on the channel. With no contact (an address nobody holds, as
an ESP or an SMS keyword can report) only the suppressions are written.

Runs in the caller's transaction `tx`: all writes commit or roll back together, and opt-outs are
counted (`UNSUBSCRIBES`, in `set_preference`) only after the commit. Writers are idempotent, so
a repeat writes nothing and returns a falsy `Outcome`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from service.consent.ledger import Proof, Tx, set_preference
from service.contacts.store import addresses_of
from service.suppression.store import add_suppression, remove_suppression

REASON = "unsubscribed"  # the only suppression reason a person's own choice adds or lifts
STOP_ACTIONS = ("opt_out",)
RESUME_ACTIONS = ("opt_in", "confirmed")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a choice changed; falsy when it was already in place."""

    preference: bool = False  # the preference changed (one ledger event written)
    suppressions: int = 0  # `unsubscribed` suppressions added (stop) or lifted (resume)

    def __bool__(self) -> bool:
        return self.preference or self.suppressions > 0


async def apply_choice(
    tx: Tx, *, stop: bool, channel: str, topic: str | None, proof: Proof,
    contact_id: str | None = None, address_keys: Sequence[str] | None = None,
    action: str | None = None, detail: dict | None = None, now: datetime | None = None,
) -> Outcome:
    """Apply a stop (`stop=True`) or a resume of (channel, topic; None: the whole channel).

    `action` defaults to `opt_out` / `opt_in`; a double opt-in resumes with `confirmed`.
    `detail` goes into the ledger event (an ESP's provider and event time). The ledger names
    the address when exactly one is concerned.
    """
    action = action or ("opt_out" if stop else "opt_in")
    if action not in (STOP_ACTIONS if stop else RESUME_ACTIONS):
        raise ValueError(f"{action!r} is not a {'stop' if stop else 'resume'} action")
    if contact_id is None and address_keys is None:
        raise ValueError("a choice needs a contact, address keys, or both")
    now = now or datetime.now(UTC)
    if address_keys is None:
        address_keys = [row["address_key"] for row in await addresses_of(tx, contact_id, channel)]
    preference = False
    if contact_id is not None:
        preference = await set_preference(
            tx, contact_id=contact_id, channel=channel, topic=topic, action=action, proof=proof,
            address_key=address_keys[0] if len(address_keys) == 1 else None, detail=detail,
            now=now)
    suppressions = 0
    for key in address_keys:
        if stop:
            suppressions += await add_suppression(
                tx, channel=channel, address_key=key, reason=REASON, source=proof.source,
                topic=topic, contact_id=contact_id, now=now)
        else:
            suppressions += await remove_suppression(
                tx, channel=channel, address_key=key, reason=REASON, source=proof.source,
                topic=topic, now=now)
    return Outcome(preference, suppressions)
