"""Privacy operations as plain async functions: export, restriction, erasure, wording versions,
and the self-service links of the preference centre."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from service import outbox
from service.consent.ledger import Proof, record_change, record_event
from service.consent.logic import preferences_of
from service.consent.objection import Objection, object_to_marketing
from service.contacts.store import addresses_of, contact_exists
from service.csvfiles import guard_cell
from service.db.engine import Database
from service.errors import Conflict, NotFound
from service.privacy import queries as q
from service.privacy import schemas as s
from service.privacy.erasure import Removal, remove_person
from service.runtime import Runtime
from service.security.tokens import ALL_TOPICS, TokenData

GONE = "no contact with this id (it may have been erased)"


def _topic(value: str) -> str | None:
    return value or None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


async def export_contact(db: Database, contact_id: str) -> s.ContactExport:
    """Everything held about one contact (the JSON schema is in docs/privacy.md)."""
    contact = await db.fetchrow(q.CONTACT, contact_id)
    if contact is None:
        raise NotFound("contact_id", GONE)
    addresses = await db.fetch(q.ADDRESSES, contact_id)
    preferences = await preferences_of(db, contact_id)
    events = await db.fetch_long(q.EVENTS, contact_id)
    suppressions = []
    for a in addresses:
        rows = await db.fetch(q.SUPPRESSIONS, a["channel"], a["address_key"])
        suppressions += [s.ExportSuppression(
            channel=r["channel"], address=a["normalized"], topic=_topic(r["topic"]),
            reason=r["reason"], source=r["source"], list_name=r["list_name"],
            created_at=r["created_at"]) for r in rows]
    keys = sorted({e["wording_version"] for e in events if e["wording_version"]})
    return s.ContactExport(
        generated_at=datetime.now(UTC),
        contact=s.ExportedContact(id=contact["id"], external_ref=contact["external_ref"],
                                restricted=bool(contact["restricted"]),
                                created_at=contact["created_at"],
                                updated_at=contact["updated_at"]),
        addresses=[s.ExportAddress(channel=a["channel"], address=a["normalized"],
                                   given=a["given"], address_key=a["address_key"],
                                   created_at=a["created_at"]) for a in addresses],
        preferences=[s.ExportPreference(**p) for p in preferences],
        consent_events=[s.ExportEvent(**{**dict(zip(q.EVENT_COLUMNS, e, strict=True)),
                                         "topic": _topic(e["topic"]),
                                         "detail": _json(e["detail"])}) for e in events],
        suppressions=suppressions,
        wording_versions=[s.ExportWording(**w) for w in await wordings(db, keys)],
    )


def ledger_csv(export: s.ContactExport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(q.EVENT_COLUMNS)
    for event in export.consent_events:
        row = event.model_dump(mode="json")
        row["detail"] = json.dumps(row["detail"]) if row["detail"] is not None else ""
        writer.writerow([guard_cell("" if row[c] is None else row[c]) for c in q.EVENT_COLUMNS])
    return out.getvalue()


async def erase(db: Database, contact_id: str, *, source: str,
                api_key_id: int | None = None) -> Removal:
    async with db.transaction() as tx:
        removal = await remove_person(tx, contact_id, why="request", source=source,
                                      api_key_id=api_key_id)
    if removal is None:
        raise NotFound("contact_id", GONE)
    return removal


async def erase_own(db: Database, contact_id: str) -> Removal | None:
    """A person's own erasure, confirmed through the privacy link (source
    `preference_centre`), in one transaction; None when the contact is gone already."""
    async with db.transaction() as tx:
        return await remove_person(tx, contact_id, why="request", source="preference_centre")


async def set_restriction(db: Database, contact_id: str, restricted: bool, reason: str | None,
                          proof: Proof) -> bool:
    """Set or lift the art. 18 restriction; False when it already was in that state."""
    now = datetime.now(UTC)
    action = "restricted" if restricted else "unrestricted"
    async with db.transaction() as tx:
        await tx.lock_feed()
        current = await tx.fetchrow(q.RESTRICTED, contact_id)
        if current is None:
            raise NotFound("contact_id", GONE)
        if bool(current["restricted"]) == restricted:
            return False
        await tx.execute(q.SET_RESTRICTED, restricted, now, contact_id)
        detail = {"reason": reason} if reason else None
        addresses = await addresses_of(tx, contact_id)
        for a in addresses:
            await record_event(tx, contact_id=contact_id, channel=a["channel"], topic=None,
                               action=action, proof=proof, address_key=a["address_key"],
                               detail=detail, now=now)
            # mailers mirroring the feed learn that sending must stop (or may resume)
            await record_change(tx, kind="preference", op="updated", channel=a["channel"],
                                address_key=a["address_key"], topic="", contact_id=contact_id,
                                value=action, source=proof.source, now=now)
        if not addresses:
            await record_event(tx, contact_id=contact_id, channel="*", topic=None,
                               action=action, proof=proof, detail=detail, now=now)
    return True


async def object_to_all_marketing(db: Database, contact_id: str, proof: Proof) -> Objection:
    """GDPR art. 21: record the objection and stop marketing on every channel, in one
    transaction (consent/objection.py); 404 when there is no such contact."""
    async with db.transaction() as tx:
        if not await contact_exists(tx, contact_id):
            raise NotFound("contact_id", GONE)
        return await object_to_marketing(tx, contact_id, proof)


async def wordings(db: Database, keys: list[str]) -> list[dict]:
    if not keys:
        return []
    rows = await db.fetch(q.wordings_sql(len(keys)), *keys)
    return [dict(zip(("key", "text", "language", "created_at"), r, strict=True)) for r in rows]


async def create_wording(db: Database, data: s.WordingIn) -> tuple[dict, bool]:
    """(version, created). The same key with the same text and language is accepted again;
    with anything different it is a conflict: versions never change."""
    async with db.transaction() as tx:
        created = await tx.execute(q.CREATE_WORDING, data.key, data.text, data.language,
                                   datetime.now(UTC))
        row = await tx.fetchrow(q.WORDING, data.key)
    version = dict(zip(("key", "text", "language", "created_at"), row, strict=True))
    if version["text"] != data.text or version["language"] != data.language:
        raise Conflict("key", f"wording version {data.key!r} already exists with a different "
                              "text or language; versions are immutable, use a new key")
    return version, created > 0


async def get_wording(db: Database, key: str) -> dict:
    found = await wordings(db, [key])
    if not found:
        raise NotFound("key", "no wording version with this key")
    return found[0]


def mask(address: str) -> str:
    local, at, domain = address.partition("@")
    if not at:
        return address[:2] + "***" + address[-2:]
    return local[:1] + "***@" + domain


async def send_privacy_link(rt: Runtime, contact_id: str, action: str, lang: str) -> str | None:
    """Email a fresh, short-lived link for `action` to the contact's first email address;
    the masked address it went to, or None when the contact has no email address."""
    now = datetime.now(UTC)
    async with rt.db.transaction() as tx:
        emails = await addresses_of(tx, contact_id, "email")
        if not emails:
            return None
        to = emails[0]["normalized"]
        token = rt.signer.sign("privacy", TokenData(contact_id, "email", ALL_TOPICS, "", action))
        minutes = max(1, rt.settings.privacy_link_max_age_seconds // 60)
        payload = {"to": to, "template": f"privacy_{action}", "lang": lang,
                   "context": {"url": f"{rt.settings.public_base_url.rstrip('/')}/privacy/"
                                      f"{token}", "action": action, "expires_minutes": minutes},
                   "list_unsubscribe": None}
        # one email per action per 5 minutes however often the button is pressed
        bucket = now.strftime("%Y%m%d%H") + f"{now.minute // 5:02d}"
        await outbox.enqueue(tx, "email", payload,
                             dedupe_key=f"privacy:{action}:{contact_id}:{bucket}", now=now)
    return mask(to)
