"""Kantara Consent Receipts v1.1: `GET /v1/contacts/{id}/consent-receipts/{event_id}` for an
opt-in event, and the person's own receipts from the self-service data page (through the
preference link; GETs that change nothing), on both engines."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from service.security.tokens import TokenData
from tests.records.conftest import api

REQUIRED = {"version": str, "jurisdiction": str, "consentTimestamp": int,
            "collectionMethod": str, "consentReceiptID": str, "piiPrincipalId": str,
            "piiControllers": list, "policyUrl": str, "services": list, "sensitive": bool,
            "spiCat": list}
CONTROLLER = {"piiController": str, "contact": str, "address": dict, "email": str,
              "phone": str}
PURPOSE = {"purpose": str, "purposeCategory": list, "consentType": str, "piiCategory": list,
           "primaryPurpose": bool, "termination": str, "thirdPartyDisclosure": bool}


def assert_kantara(receipt: dict) -> None:
    for fields, node in ((REQUIRED, receipt), (CONTROLLER, receipt["piiControllers"][0]),
                         (PURPOSE, receipt["services"][0]["purposes"][0])):
        for name, kind in fields.items():
            assert isinstance(node.get(name), kind), (name, node.get(name))
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert not isinstance(receipt["consentTimestamp"], bool)
    uuid.UUID(receipt["consentReceiptID"])
    assert isinstance(receipt["services"][0]["service"], str)


async def events_of(client, ann) -> list[dict]:
    body = await api(client, "GET", f"/v1/contacts/{ann.contact_id}/events", ann.headers)
    return sorted(body["events"], key=lambda e: e["id"])


def pref_token(rt, contact_id: str) -> str:
    return rt.signer.sign("preferences", TokenData(contact_id, "email", "*"))


async def test_receipt_of_an_opt_in_carries_every_kantara_field(client, ann, settings):
    [opt_in] = [e for e in await events_of(client, ann)
                if e["action"] == "opt_in" and e["topic"] == "newsletter"]
    url = f"/v1/contacts/{ann.contact_id}/consent-receipts/{opt_in['id']}"
    receipt = await api(client, "GET", url, ann.headers)
    assert_kantara(receipt)
    occurred = datetime.fromisoformat(opt_in["occurred_at"].replace("Z", "+00:00"))
    assert receipt["consentTimestamp"] == int(occurred.astimezone(UTC).timestamp())
    assert receipt["piiPrincipalId"] == ann.contact_id
    assert receipt["piiControllers"][0]["piiController"] == settings.org_name
    assert receipt["collectionMethod"].startswith("preference_centre")
    assert receipt["language"] == "en"
    purpose = receipt["services"][0]["purposes"][0]
    assert purpose["purpose"].startswith("Newsletter") and purpose["consentType"] == "EXPLICIT"
    # the same event always gets the same receipt id
    assert (await api(client, "GET", url, ann.headers))["consentReceiptID"] == \
        receipt["consentReceiptID"]


async def test_receipts_only_for_the_contacts_own_opt_ins(client, ann, admin_headers):
    events = await events_of(client, ann)
    [opt_out] = [e for e in events if e["action"] == "opt_out"]
    base = f"/v1/contacts/{ann.contact_id}/consent-receipts"
    refused = await client.get(f"{base}/{opt_out['id']}", headers=ann.headers)
    assert refused.status_code == 404
    assert "opt_out" in refused.json()["errors"][0]["message"]
    assert (await client.get(f"{base}/999999", headers=ann.headers)).status_code == 404
    # Bob's contact id with Ann's event: not his
    bob = await api(client, "POST", "/v1/contacts", admin_headers, json={
        "addresses": [{"channel": "email", "address": "bob@example.com"}]})
    foreign = await client.get(f"/v1/contacts/{bob['id']}/consent-receipts/{events[0]['id']}",
                               headers=ann.headers)
    assert foreign.status_code == 404
    assert foreign.json()["errors"][0]["field"] == "event_id"
    gone = await client.get(f"/v1/contacts/nobody/consent-receipts/{events[0]['id']}",
                            headers=ann.headers)
    assert gone.status_code == 404 and gone.json()["errors"][0]["field"] == "contact_id"


async def test_data_page_lists_receipts_and_downloads_change_nothing(client, ann, rt, db):
    token = pref_token(rt, ann.contact_id)
    opt_ins = [e for e in await events_of(client, ann) if e["action"] == "opt_in"]
    assert len(opt_ins) == 2  # newsletter and offers (the events sign-up is still pending)
    before = await db.fetchval("SELECT COUNT(*) FROM consent_event")
    page = await client.get(f"/p/{token}/data")
    assert page.status_code == 200 and "Your consent receipts" in page.text
    for event in opt_ins:
        assert f'href="/p/{token}/receipts/{event["id"]}"' in page.text
    german = await client.get(f"/p/{token}/data", headers={"Accept-Language": "de"})
    assert "Beleg herunterladen" in german.text

    one = await client.get(f"/p/{token}/receipts/{opt_ins[0]['id']}")
    assert one.status_code == 200
    assert one.headers["content-disposition"].startswith("attachment")
    assert_kantara(json.loads(one.content))
    every = await client.get(f"/p/{token}/receipts")
    assert every.status_code == 200
    receipts = json.loads(every.content)
    assert len(receipts) == 2 and all(r["piiPrincipalId"] == ann.contact_id for r in receipts)
    assert receipts[0] == json.loads(one.content)
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == before


async def test_a_person_gets_only_their_own_receipts(client, ann, rt, admin_headers):
    bob = await api(client, "POST", "/v1/contacts", admin_headers, json={
        "addresses": [{"channel": "email", "address": "bob@example.com"}]})
    bobs = pref_token(rt, bob["id"])
    anns_event = next(e for e in await events_of(client, ann) if e["action"] == "opt_in")
    assert (await client.get(f"/p/{bobs}/receipts/{anns_event['id']}")).status_code == 404
    assert json.loads((await client.get(f"/p/{bobs}/receipts")).content) == []
    page = await client.get(f"/p/{bobs}/data")
    assert "Your consent receipts" not in page.text  # nothing to download
    # a forged or truncated link gets the invalid-link page
    token = pref_token(rt, ann.contact_id)
    assert (await client.get(f"/p/{token[:-4]}abcd/receipts")).status_code == 400
