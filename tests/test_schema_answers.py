"""Answers agree with the enums the schema documents: a generated client (or schemathesis'
response checks) refuses a value outside them, so every action the ledger records, every
preference status and every scope must be one the schema lists, through every route that
shows them. Each test drives the service the way a client would, on both engines."""

from __future__ import annotations

import pytest


@pytest.fixture
async def enums(client) -> dict:
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]

    def enum(component: str, prop: str) -> set:
        node = schemas[component]["properties"][prop]
        return set(node.get("items", node)["enum"])

    return {"action": enum("ConsentEventOut", "action"), "status": enum("PreferenceOut", "status"),
            "scopes": enum("ApiKeyOut", "scopes"), "export_action": enum("ExportEvent", "action"),
            "export_status": enum("ExportPreference", "status"),
            "proof_action": enum("ProofEntry", "action"),
            "channel": enum("ConsentEventOut", "channel"),
            "export_channel": enum("ExportEvent", "channel"),
            "proof_channel": enum("ProofEntry", "channel")}


async def test_every_ledger_action_is_answered_as_documented(client, admin_headers, enums):
    await client.post("/v1/topics", headers=admin_headers,
                      json={"key": "news", "name": "News", "channels": ["email"]})
    made = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "email", "address": "ann@example.com"}]})
    contact = made.json()["id"]
    url = f"/v1/contacts/{contact}"
    for change in ({"topic": "news", "status": "opted_in"},
                   {"topic": "news", "status": "opted_out"},
                   {"topic": None, "paused_until": "2099-01-01T00:00:00Z"},
                   {"topic": None, "paused_until": None}):
        response = await client.put(f"{url}/preferences", headers=admin_headers,
                                    json={"preferences": [{"channel": "email", **change}]})
        assert response.status_code == 200, response.text
    added = await client.post("/v1/suppressions", headers=admin_headers, json={
        "channel": "email", "reason": "manual", "addresses": ["ann@example.com"]})
    assert added.status_code in (200, 201), added.text
    lifted = await client.delete("/v1/suppressions/email/ann@example.com",
                                 params={"reason": "manual"}, headers=admin_headers)
    assert lifted.status_code == 200, lifted.text
    for restricted in (True, False):
        response = await client.put(f"{url}/restriction", headers=admin_headers,
                                    json={"restricted": restricted})
        assert response.status_code == 200, response.text

    events = await client.get(f"{url}/events", headers=admin_headers)
    assert events.status_code == 200, events.text
    actions = {e["action"] for e in events.json()["events"]}
    assert {"opt_in", "opt_out", "paused", "resumed", "suppressed", "unsuppressed",
            "restricted", "unrestricted"} <= actions <= enums["action"]
    preferences = (await client.get(f"{url}/preferences", headers=admin_headers)).json()
    assert {p["status"] for p in preferences["preferences"]} <= enums["status"]

    export = await client.get(f"{url}/export", headers=admin_headers)
    assert export.status_code == 200, export.text
    assert {e["action"] for e in export.json()["consent_events"]} == actions
    assert {p["status"] for p in export.json()["preferences"]} <= enums["export_status"]
    assert actions <= enums["export_action"]
    proof = await client.get(f"/v1/consent-proof/contacts/{contact}", headers=admin_headers)
    assert proof.status_code == 200, proof.text
    assert {e["action"] for e in proof.json()["entries"]} <= enums["proof_action"]


async def test_api_key_scopes_are_answered_as_documented(client, admin_headers, enums):
    created = await client.post("/v1/api-keys", headers=admin_headers, json={
        "name": "crm", "scopes": ["contacts:read", "links:write"]})
    assert created.status_code == 201, created.text
    assert set(created.json()["scopes"]) <= enums["scopes"]
    listed = await client.get("/v1/api-keys", headers=admin_headers)
    assert listed.status_code == 200, listed.text
    assert {s for key in listed.json() for s in key["scopes"]} <= enums["scopes"]


async def test_the_ledger_of_a_restricted_contact_without_addresses_reads(client, admin_headers,
                                                                          enums):
    """Restricting a contact that holds no address records one event for the contact as a
    whole (channel `*`); its ledger, export and proof were a 500 until the schema said so."""
    made = await client.post("/v1/contacts", headers=admin_headers, json={"external_ref": "c-1"})
    contact = made.json()["id"]
    restricted = await client.put(f"/v1/contacts/{contact}/restriction", headers=admin_headers,
                                  json={"restricted": True})
    assert restricted.status_code == 200, restricted.text

    events = await client.get(f"/v1/contacts/{contact}/events", headers=admin_headers)
    assert events.status_code == 200, events.text
    assert [(e["channel"], e["action"]) for e in events.json()["events"]] == [("*", "restricted")]
    assert "*" in enums["channel"]
    export = await client.get(f"/v1/contacts/{contact}/export", headers=admin_headers)
    assert export.status_code == 200, export.text
    assert [e["channel"] for e in export.json()["consent_events"]] == ["*"]
    assert "*" in enums["export_channel"]
    proof = await client.get(f"/v1/consent-proof/contacts/{contact}", headers=admin_headers)
    assert proof.status_code == 200, proof.text
    assert [e["channel"] for e in proof.json()["entries"]] == ["*"]
    assert "*" in enums["proof_channel"]
