"""`GET /v1/contacts/{id}/consent-records`: ISO/IEC TS 27560 records as JSON-LD with the W3C
Data Privacy Vocabulary, on both engines. The document is parsed with `json` and every term is
checked to be a keyword, or a compact IRI whose prefix the inline @context declares (so it
expands without fetching anything)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from service.consent.ledger import Proof, set_preference
from tests.records.conftest import ANN, OFFERS_WORDING, WORDING

DPV = "https://w3id.org/dpv#"


async def records_of(client, ann) -> dict:
    response = await client.get(f"/v1/contacts/{ann.contact_id}/consent-records",
                                headers=ann.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    return json.loads(response.content)


def by_purpose(doc: dict) -> dict[tuple[str, str | None], dict]:
    return {(r["dpv:hasPurpose"]["prefs:channel"], r["dpv:hasPurpose"]["prefs:topic"]): r
            for r in doc["@graph"] if r.get("@type") == "dpv:ConsentRecord"}


def check_terms(node, prefixes: set[str]) -> int:
    """Every key (and every compact IRI in @type and @id values) is a JSON-LD keyword or uses a
    declared prefix; returns how many dpv: terms were seen."""
    seen = 0
    if isinstance(node, list):
        return sum(check_terms(item, prefixes) for item in node)
    if not isinstance(node, dict):
        return 0
    for key, value in node.items():
        if key == "@context":
            continue
        if not key.startswith("@"):
            prefix = key.split(":", 1)[0]
            assert ":" in key and prefix in prefixes, f"undeclared term {key!r}"
            seen += prefix == "dpv"
        if key in ("@type", "@id"):
            for iri in value if isinstance(value, list) else [value]:
                if not iri.startswith(("http://", "https://")):
                    assert iri.split(":", 1)[0] in prefixes, f"undeclared IRI {iri!r}"
                    seen += iri.startswith("dpv:")
        seen += check_terms(value, prefixes)
    return seen


async def test_records_are_json_ld_with_dpv_terms(client, ann, settings):
    doc = await records_of(client, ann)
    context = doc["@context"]
    assert context["dpv"] == DPV and context["dpv"].startswith("https://w3id.org/dpv")
    assert context["prefs"] == "https://prefs.example.com/ns#"
    assert check_terms(doc, set(context)) > 50

    [controller] = [n for n in doc["@graph"] if n.get("@type") == "dpv:DataController"]
    assert controller["dpv:hasName"] == settings.org_name == "Example Ltd"
    assert controller["dpv:hasNotice"]["@type"] == "dpv:PrivacyNotice"
    [subject] = [n for n in doc["@graph"] if n.get("@type") == "dpv:DataSubject"]
    assert subject["dpv:hasIdentifier"] == ann.contact_id

    records = by_purpose(doc)
    assert set(records) == {("email", "newsletter"), ("email", "offers"), ("email", "events")}
    for record in records.values():
        assert record["dpv:hasDataController"] == {"@id": controller["@id"]}
        assert record["dpv:hasDataSubject"] == {"@id": subject["@id"]}
        assert record["dpv:hasPurpose"]["@type"] == "dpv:DirectMarketing"

    newsletter = records[("email", "newsletter")]
    assert newsletter["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentGiven"}
    assert newsletter["dpv:hasLegalBasis"] == {"@id": "dpv:Consent"}
    assert newsletter["dpv:hasIndicationMethod"] == "preference_centre"
    assert newsletter["dpv:isIndicatedBy"] == {"@id": subject["@id"]}  # the person acted
    assert newsletter["dpv:hasPurpose"]["dct:title"] == "Newsletter"
    assert newsletter["dpv:hasPurpose"]["dct:description"] == "Monthly news"
    notice = newsletter["dpv:hasNotice"]
    assert notice["@type"] == "dpv:ConsentNotice" and notice["dct:identifier"] == "signup-v1"
    assert notice["prefs:sha256"] == hashlib.sha256(WORDING.encode()).hexdigest()
    assert notice["@id"] == "https://prefs.example.com/v1/wording-versions/signup-v1"

    # opted in, then out, of a legitimate-interest topic: withdrawn, and the API recorded it
    offers = records[("email", "offers")]
    assert offers["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentWithdrawn"}
    assert offers["dpv:hasLegalBasis"] == {"@id": "dpv:Consent"}  # an opt-in was recorded
    assert offers["dpv:isIndicatedBy"] == {"@id": controller["@id"]}
    assert offers["dpv:hasNotice"]["prefs:sha256"] == hashlib.sha256(
        OFFERS_WORDING.encode()).hexdigest()

    # a double opt-in sign-up waiting for its confirmation
    events = records[("email", "events")]
    assert events["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentRequested"}
    assert events["dpv:hasIndicationMethod"] == "double_opt_in"
    assert events["prefs:status"] == "pending"


async def test_timeline_is_oldest_first_with_status_per_event_and_no_ip(client, ann, db):
    doc = await records_of(client, ann)
    offers = by_purpose(doc)[("email", "offers")]
    timeline = offers["dct:hasPart"]["@list"]
    assert [e["prefs:action"] for e in timeline] == ["opt_in", "opt_out"]
    assert [e["dpv:hasConsentStatus"]["@id"] for e in timeline] == [
        "dpv:ConsentGiven", "dpv:ConsentWithdrawn"]
    ids = [int(e["dct:identifier"]) for e in timeline]
    assert ids == sorted(ids)
    times = [e["dct:date"]["@value"] for e in timeline]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)
    assert all(e["dct:date"]["@type"] == "xsd:dateTime" for e in timeline)
    assert all(e["dpv:hasNotice"]["@id"].endswith("/offers-v2") for e in timeline)
    ledger = await db.fetch("SELECT id FROM consent_event WHERE contact_id = $1 AND topic = $2"
                            " ORDER BY id", ann.contact_id, "offers")
    assert ids == [r["id"] for r in ledger]
    newsletter = by_purpose(doc)[("email", "newsletter")]
    assert newsletter["dct:hasPart"]["@list"][0]["prefs:campaign"] == "2026-spring"
    # the IP and user agent stay in the export, never in the records
    text = json.dumps(doc)
    assert "203.0.113.9" not in text and "SecretBrowser" not in text
    assert ANN not in text  # nor the address: the person is the opaque contact id


async def test_opt_out_then_in_and_whole_channel_and_expired_request(client, ann, db, rt):
    url = f"/v1/contacts/{ann.contact_id}/preferences"
    response = await client.put(url, headers=ann.headers, json={"preferences": [
        {"channel": "email", "topic": "newsletter", "status": "opted_out"},
        {"channel": "email", "topic": None, "status": "opted_out"}], "source": "api"})
    assert response.status_code == 200, response.text
    records = by_purpose(await records_of(client, ann))
    assert records[("email", "newsletter")]["dpv:hasConsentStatus"]["@id"] == \
        "dpv:ConsentWithdrawn"
    whole = records[("email", None)]
    assert whole["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentWithdrawn"
    assert whole["dpv:hasLegalBasis"]["@id"] == "dpv:LegitimateInterest"  # no opt-in on record
    assert whole["dpv:hasPurpose"]["dct:title"] == "All marketing by email"

    # a sign-up whose confirmation link expired (CONFIRM_MAX_AGE_DAYS) without confirmation
    old = datetime.now(UTC) - timedelta(days=rt.settings.confirm_max_age_days + 1)
    _, key = rt.parse_address("email", ANN)
    async with db.transaction() as tx:
        assert await set_preference(tx, contact_id=ann.contact_id, channel="sms",
                                    topic="newsletter", action="pending", address_key=key,
                                    proof=Proof(source="double_opt_in",
                                                wording_version="signup-v1"), now=old)
    sms = by_purpose(await records_of(client, ann))[("sms", "newsletter")]
    assert sms["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentExpired"
    assert sms["prefs:status"] == "pending"
    # the one still in its window stays requested
    events = by_purpose(await records_of(client, ann))[("email", "events")]
    assert events["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentRequested"


async def test_unknown_contact_is_404_and_scope_is_contacts_read(client, ann, make_key):
    missing = await client.get("/v1/contacts/no-such-contact/consent-records",
                               headers=ann.headers)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "contact_id"
    reader = await make_key("contacts:read")
    assert (await client.get(f"/v1/contacts/{ann.contact_id}/consent-records",
                             headers=reader)).status_code == 200
    other = await make_key("suppressions:read")
    assert (await client.get(f"/v1/contacts/{ann.contact_id}/consent-records",
                             headers=other)).status_code == 403


async def test_erased_contact_has_no_records(client, ann):
    erased = await client.delete(f"/v1/contacts/{ann.contact_id}", headers=ann.headers)
    assert erased.status_code == 200, erased.text
    response = await client.get(f"/v1/contacts/{ann.contact_id}/consent-records",
                                headers=ann.headers)
    assert response.status_code == 404
