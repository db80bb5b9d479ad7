"""A person with a partner topic (sale_or_sharing) beside ordinary ones, and what every check
says for them: the GPC tests compare it before and after a form."""

from __future__ import annotations

from service.consent.ledger import Proof, set_preference
from tests.preferences.seed import add_contact, add_topic, reasons

EMAIL, SMS = "ann@example.com", "+44 7911 123456"
ADDRESS = {"email": EMAIL, "sms": SMS}
TOPICS = {"newsletter": ("email",), "offers": ("email", "sms"), "partners": ("email", "sms"),
          "account": ("email", "sms"), None: ("email", "sms")}
GPC = {"Sec-GPC": "1"}


async def seed(db, rt) -> str:
    """Ann (email and sms); `partners` is shared with third parties; she had opted out of
    offers by SMS before. Returns her contact id."""
    await add_topic(db, "newsletter", "Newsletter", ["email"], "soft_opt_in")
    await add_topic(db, "offers", "Offers", ["email", "sms"], "legitimate_interest")
    await add_topic(db, "partners", "Partner offers", ["email", "sms"], "soft_opt_in",
                    description="Offers from our partners", sale_or_sharing=True)
    await add_topic(db, "old-partners", "Old partner list", ["email"], "soft_opt_in",
                    archived=True, sale_or_sharing=True)
    await add_topic(db, "account", "Account notices", ["email", "sms"], transactional=True)
    contact_id = await add_contact(db, rt, [("email", EMAIL), ("sms", SMS)])
    async with db.transaction() as tx:
        await set_preference(tx, contact_id=contact_id, channel="sms", topic="offers",
                             action="opt_out", proof=Proof(source="api"))
    return contact_id


async def decisions(db, rt) -> dict[tuple[str, str | None], list[str]]:
    """The send decision of every (channel, topic) Ann has, whole channels included."""
    return {(channel, topic): await reasons(db, rt, channel, ADDRESS[channel], topic)
            for topic, channels in TOPICS.items() for channel in channels}


def without_partners(found: dict) -> dict:
    return {k: v for k, v in found.items() if k[1] != "partners"}


async def gpc_events(db) -> list[tuple[str, str, str]]:
    rows = await db.fetch("SELECT channel, topic, action FROM consent_event"
                          " WHERE source = 'gpc' ORDER BY channel")
    return [(r["channel"], r["topic"], r["action"]) for r in rows]


PARTNERS_OFF = [("email", "partners", "opt_out"), ("sms", "partners", "opt_out")]
