"""Access and portability: the JSON export holds everything, the CSV holds the whole ledger."""

from __future__ import annotations

import csv
import io

from tests.privacy.conftest import IP, UA, WORDING


async def test_export_contains_every_event_and_everything_held(client, db, person,
                                                               make_key):
    headers = await make_key("contacts:read")
    response = await client.get(f"/v1/contacts/{person.contact_id}/export", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "prefservice.contact-export" and body["schema_version"] == 1
    assert body["contact"]["id"] == person.contact_id
    assert {(a["channel"], a["address"]) for a in body["addresses"]} == {
        ("email", person.email), ("sms", person.phone)}
    ledger_ids = [r["id"] for r in await db.fetch(
        "SELECT id FROM consent_event WHERE contact_id = $1 ORDER BY id", person.contact_id)]
    assert len(ledger_ids) == person.events
    assert [e["id"] for e in body["consent_events"]] == ledger_ids
    first = body["consent_events"][0]
    assert (first["action"], first["topic"], first["ip"], first["user_agent"],
            first["wording_version"], first["campaign"]) == (
        "pending", "newsletter", IP, UA, "signup-v1", "2026-spring")
    paused = [e for e in body["consent_events"] if e["action"] == "paused"][0]
    assert paused["detail"]["paused_until"]
    assert {(p["channel"], p["topic"], p["status"]) for p in body["preferences"]} == {
        ("email", "newsletter", "opted_in"), ("email", "offers", "opted_out"),
        ("sms", "newsletter", "opted_in")}
    assert [(s["address"], s["topic"], s["reason"]) for s in body["suppressions"]] == [
        (person.email, "offers", "complaint")]
    assert body["wording_versions"] == [{"key": "signup-v1", "text": WORDING, "language": "en",
                                         "created_at": body["wording_versions"][0]["created_at"]}]


async def test_ledger_csv_has_one_row_per_event(client, person, make_key):
    headers = await make_key("contacts:read")
    response = await client.get(f"/v1/contacts/{person.contact_id}/export/ledger.csv",
                                headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == person.events
    assert [r["action"] for r in rows] == ["pending", "confirmed", "opt_out", "opt_in", "paused"]
    assert rows[0]["ip"] == IP and rows[0]["user_agent"] == UA


async def test_csv_cells_cannot_become_spreadsheet_formulas(client, db, rt, topics, make_key):
    from tests.privacy.conftest import make_person

    person = await make_person(db, rt, email="formula@example.com", phone=None,
                               ua="=HYPERLINK(\"https://evil.example\")")
    headers = await make_key("contacts:read")
    text = (await client.get(f"/v1/contacts/{person.contact_id}/export/ledger.csv",
                             headers=headers)).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert all(r["user_agent"].startswith("'=") for r in rows)


async def test_export_needs_read_scope_and_a_known_contact(client, person, make_key):
    url = f"/v1/contacts/{person.contact_id}/export"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=await make_key("links:write"))).status_code == 403
    missing = await client.get("/v1/contacts/nope/export", headers=await make_key("contacts:read"))
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "contact_id"
