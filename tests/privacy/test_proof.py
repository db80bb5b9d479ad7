"""Wording versions (immutable) and the consent proof report, as JSON and as a printable page."""

from __future__ import annotations

from datetime import UTC, datetime

from service.consent.ledger import Proof, set_preference
from tests.privacy.conftest import IP, WORDING, make_person


async def test_wording_versions_are_immutable(client, db, admin_headers, make_key):
    body = {"key": "signup-v3", "text": "Yes, send me offers.", "language": "de"}
    created = await client.post("/v1/wording-versions", headers=admin_headers, json=body)
    assert created.status_code == 201
    assert {k: created.json()[k] for k in body} == body
    same = await client.post("/v1/wording-versions", headers=admin_headers, json=body)
    assert same.status_code == 200
    changed = await client.post("/v1/wording-versions", headers=admin_headers,
                                json={**body, "text": "Yes, send me offers!"})
    assert changed.status_code == 409
    assert changed.json()["errors"][0]["field"] == "key"
    read = await client.get("/v1/wording-versions/signup-v3",
                            headers=await make_key("contacts:read"))
    assert read.status_code == 200 and read.json()["text"] == "Yes, send me offers."
    missing = await client.get("/v1/wording-versions/nope", headers=admin_headers)
    assert missing.status_code == 404


async def test_bad_wording_input_is_422_and_writes_nothing(client, db, admin_headers, make_key):
    for body, field in (({"key": "has space", "text": "x"}, "key"),
                        ({"key": "v1", "text": ""}, "text"),
                        ({"key": "v1", "text": "x", "language": "not a language"}, "language"),
                        ({"text": "x"}, "key")):
        response = await client.post("/v1/wording-versions", headers=admin_headers, json=body)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]]
    writer = await make_key("contacts:write")
    assert (await client.post("/v1/wording-versions", headers=writer,
                              json={"key": "v1", "text": "x"})).status_code == 403
    assert await db.fetchval("SELECT COUNT(*) FROM wording_version") == 0


async def test_contact_proof_shows_who_when_how_which_words_and_withdrawals(client, db, person,
                                                                            make_key):
    reader = await make_key("contacts:read")
    response = await client.get(f"/v1/consent-proof/contacts/{person.contact_id}",
                                headers=reader)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["subject"] == "contact" and report["key"] == person.contact_id
    assert (report["consents"], report["withdrawals"]) == (2, 1)
    confirmed = [e for e in report["entries"] if e["action"] == "confirmed"][0]
    assert confirmed["kind"] == "consent" and confirmed["addresses"] == [person.email]
    assert (confirmed["source"], confirmed["wording_version"], confirmed["wording_text"],
            confirmed["ip"]) == ("preference_centre", "signup-v1", WORDING, IP)
    withdrawal = [e for e in report["entries"] if e["kind"] == "withdrawal"][0]
    assert (withdrawal["channel"], withdrawal["topic"]) == ("email", "offers")

    page = await client.get(f"/v1/consent-proof/contacts/{person.contact_id}?format=html",
                            headers=reader)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/print.css" in page.text and WORDING in page.text
    assert "style=" not in page.text  # CSP: no inline styles
    css = await client.get("/static/print.css")
    assert css.status_code == 200 and "@media print" in css.text


async def test_proof_outlives_erasure_without_personal_data(client, db, person, make_key):
    await client.delete(f"/v1/contacts/{person.contact_id}",
                        headers=await make_key("contacts:write"))
    report = (await client.get(f"/v1/consent-proof/contacts/{person.contact_id}",
                               headers=await make_key("contacts:read"))).json()
    assert report["consents"] == 2 and report["withdrawals"] == 1
    assert all(e["addresses"] == [] and e["ip"] is None for e in report["entries"])
    assert report["entries"][1]["wording_text"] == WORDING
    unknown = await client.get("/v1/consent-proof/contacts/nobody",
                               headers=await make_key("contacts:read"))
    assert unknown.status_code == 404


async def test_topic_proof_lists_consents_and_every_withdrawal_by_page(client, db, rt, topics,
                                                                       make_key):
    ann = await make_person(db, rt, email="ann@example.com", phone=None)
    bob = await make_person(db, rt, email="bob@example.com", phone=None)
    async with db.transaction() as tx:  # Bob then unsubscribes from all email
        await set_preference(tx, contact_id=bob.contact_id, channel="email", topic=None,
                             action="opt_out", proof=Proof(source="one_click"),
                             address_key=bob.email_key, now=datetime.now(UTC))
    reader = await make_key("contacts:read")
    report = (await client.get("/v1/consent-proof/topics/newsletter", headers=reader)).json()
    assert report["subject"] == "topic"
    by_person = {}
    for entry in report["entries"]:
        by_person.setdefault(entry["contact_id"], []).append((entry["action"], entry["kind"]))
    assert by_person[ann.contact_id] == [("pending", "pending"), ("confirmed", "consent")]
    assert by_person[bob.contact_id] == [("pending", "pending"), ("confirmed", "consent"),
                                         ("opt_out", "withdrawal")]
    assert (report["consents"], report["withdrawals"]) == (2, 1)
    assert report["next_after"] is None
    # paging: two at a time, nothing lost, nothing repeated
    seen, after = [], 0
    while True:
        page = (await client.get(f"/v1/consent-proof/topics/newsletter?limit=2&after={after}",
                                 headers=reader)).json()
        seen += [e["event_id"] for e in page["entries"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == [e["event_id"] for e in report["entries"]]
    html = await client.get("/v1/consent-proof/topics/newsletter?format=html", headers=reader)
    assert "bob@example.com" in html.text and "withdrawal" in html.text
    assert (await client.get("/v1/consent-proof/topics/nothing",
                             headers=reader)).status_code == 404
    bad = await client.get("/v1/consent-proof/topics/newsletter?limit=0", headers=reader)
    assert bad.status_code == 422 and bad.json()["errors"]
