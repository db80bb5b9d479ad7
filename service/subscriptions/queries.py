"""The confirmation pages' database work, so that `routes.py` holds no SQL and no transaction.

Each function is one transaction: the sign-up target a confirmation link points at is read
again inside it, so a confirmation racing an erasure or another confirmation sees one state.
"""

from __future__ import annotations

from datetime import datetime

from service.consent.ledger import Proof
from service.db.engine import Database
from service.runtime import Runtime
from service.security.tokens import TokenData
from service.subscriptions.logic import Target, confirm, load_target, queue_confirmation
from service.topics.cache import TopicInfo

ADDRESS_TEXT = "SELECT normalized FROM address WHERE id = $1"


async def confirm_chosen(db: Database, topics: dict[str, TopicInfo], data: TokenData,
                         chosen: set[str], proof: Proof, now: datetime) -> list[TopicInfo]:
    """Confirm the chosen pending topics of the link's sign-up; those confirmed (none when
    the sign-up is gone)."""
    async with db.transaction() as tx:
        target = await load_target(tx, topics, data)
        return await confirm(tx, topics, target, chosen, proof, now) if target else []


async def renew(rt: Runtime, topics: dict[str, TopicInfo], data: TokenData, lang: str,
                now: datetime) -> Target | None:
    """Queue a new confirmation email when topics are still pending; the target (None when
    the sign-up is gone), for the page to say what happened."""
    async with rt.db.transaction() as tx:
        target = await load_target(tx, topics, data)
        if target is not None and target.pending:
            address_id = int(data.extra)
            to = await tx.fetchval(ADDRESS_TEXT, address_id)
            await queue_confirmation(rt, tx, topics, contact_id=data.contact_id,
                                     address_id=address_id, to=to,
                                     address_key=target.address_key, lang=lang, now=now)
    return target
