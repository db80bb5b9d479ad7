"""Operator commands of the ops capability: `seed-demo`."""

from __future__ import annotations

import argparse
import asyncio

from service.consent.choice import apply_choice
from service.consent.ledger import Proof
from service.contacts.logic import ParsedAddress, upsert_contact
from service.errors import Conflict
from service.runtime import with_runtime
from service.security.tokens import TokenData
from service.topics.logic import create_topic
from service.transfer import add_tenant_argument

DEMO_TOPICS = [
    {"key": "newsletter", "name": "Newsletter", "channels": ["email"], "legal_basis": "consent",
     "description": "Our monthly newsletter."},
    {"key": "offers", "name": "Offers", "channels": ["email", "sms", "post"],
     "legal_basis": "soft_opt_in", "description": "Discounts and offers for customers."},
    {"key": "events", "name": "Events", "channels": ["email", "phone"],
     "legal_basis": "consent", "description": "Invitations to events and webinars."},
    {"key": "partners", "name": "Partner offers", "channels": ["email", "post"],
     "legal_basis": "consent", "description": "Offers from carefully chosen partners."},
    {"key": "product-updates", "name": "Product updates", "channels": ["email"],
     "legal_basis": "legitimate_interest", "description": "What changed in what you use."},
    {"key": "account", "name": "Account messages", "channels": ["email", "sms"],
     "legal_basis": "legitimate_interest", "transactional": True,
     "description": "Receipts, security notices and password resets."},
]
DEMO_CONTACTS = [
    ("demo-ann", [("email", "ann@example.com"), ("sms", "+44 20 7946 0123")],
     [("email", "newsletter"), ("email", "events")]),
    ("demo-bob", [("email", "bob@example.com"), ("post", "1 High Street, Leeds, LS1 1AA")],
     [("email", "partners")]),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Create demo topics and two demo contacts, and print their links."
    add_tenant_argument(parser)


async def _seed(rt) -> list[str]:
    lines = []
    for topic in DEMO_TOPICS:
        try:
            await create_topic(rt.db, topic)
            lines.append(f"topic {topic['key']}: created")
        except Conflict:
            lines.append(f"topic {topic['key']}: already there")
    proof = Proof(source="admin", wording_version="seed-demo")
    for ref, addresses, consents in DEMO_CONTACTS:
        parsed = []
        for i, (channel, raw) in enumerate(addresses):
            normalized, key = rt.parse_address(channel, raw)
            parsed.append(ParsedAddress(f"addresses[{i}]", channel, normalized, key, raw))
        async with rt.db.transaction() as tx:
            contact_id, _ = await upsert_contact(tx, ref, parsed)
            for channel, topic in consents:
                await apply_choice(tx, stop=False, contact_id=contact_id, channel=channel,
                                   topic=topic, proof=proof)
        token = rt.signer.sign("preferences", TokenData(contact_id, "email", "*", "demo"))
        lines.append(f"{addresses[0][1]}: preference centre "
                     f"{rt.settings.public_base_url.rstrip('/')}/p/{token}")
    return lines


def run(args: argparse.Namespace) -> int:
    for line in asyncio.run(with_runtime(_seed, tenant=args.tenant)):
        print(line)
    return 0


COMMANDS = {"seed-demo": (add_arguments, run)}
