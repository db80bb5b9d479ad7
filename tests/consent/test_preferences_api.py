"""Preferences API and the ledger view: proof on every event, all-or-nothing requests, pause,
cursor pagination, scopes; and the send decision over what the API wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.apikeys.logic import create_api_key
from tests.consent.conftest import NEWSLETTER, PRODUCT

TOPICS = [
    {"key": "newsletter", "name": "Newsletter", "channels": ["email"], "legal_basis": "consent"},
    {"key": "offers", "name": "Offers", "channels": ["email", "sms"], "legal_basis": "consent"},
    {"key": "product-updates", "name": "Product updates", "channels": ["email"],
     "legal_basis": "soft_opt_in"},
]


@pytest.fixture
async def ann(client, admin_headers) -> str:
    for topic in TOPICS:
        assert (await client.post("/v1/topics", headers=admin_headers, json=topic)).status_code \
            == 201
    created = await client.post("/v1/contacts", headers=admin_headers, json={
        "external_ref": "crm-42", "addresses": [{"channel": "email", "address": "ann@example.com"},
                                                {"channel": "sms", "address": "07911 123456"}]})
    return created.json()["id"]


async def put(client, headers, contact_id, *prefs, **proof):
    return await client.put(f"/v1/contacts/{contact_id}/preferences", headers=headers,
                            json={"preferences": list(prefs), **proof})


async def events(db, contact_id):
    return await db.fetch("SELECT * FROM consent_event WHERE contact_id = $1 ORDER BY id",
                          contact_id)


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def test_set_and_read_per_topic_and_whole_channel(client, admin_headers, ann):
    response = await put(client, admin_headers, ann,
                         {"channel": "email", "topic": "newsletter", "status": "opted_in"},
                         {"channel": "sms", "topic": None, "status": "opted_out"},
                         {"channel": "email", "status": "opted_in"})
    assert response.status_code == 200
    assert response.json()["changed"] == 3
    read = (await client.get(f"/v1/contacts/{ann}/preferences", headers=admin_headers)).json()
    assert {(p["channel"], p["topic"], p["status"]) for p in read["preferences"]} == {
        ("email", "newsletter", "opted_in"), ("email", None, "opted_in"),
        ("sms", None, "opted_out")}
    again = await put(client, admin_headers, ann,
                      {"channel": "email", "topic": "newsletter", "status": "opted_in"})
    assert again.json()["changed"] == 0  # repeating the current state records nothing


async def test_a_long_user_agent_is_kept_to_the_one_limit_of_every_source(
        client, db, ann, admin_headers):
    """The ledger keeps 500 characters of a user agent, as the one-click and the recipient
    pages do (security/origin.py), not 1,000."""
    headers = {**admin_headers, "User-Agent": "crm-sync/" + "x" * 2000}
    response = await put(client, headers, ann,
                         {"channel": "email", "topic": "newsletter", "status": "opted_in"})
    assert response.status_code == 200
    [row] = await events(db, ann)
    assert row["user_agent"] == ("crm-sync/" + "x" * 2000)[:500]


async def test_every_event_carries_its_proof(client, db, ann):
    key_id, secret = await create_api_key(db, "crm", ["contacts:write"])
    headers = {"Authorization": f"Bearer {secret}", "User-Agent": "crm-sync/2.1"}
    response = await put(client, headers, ann,
                         {"channel": "email", "topic": "newsletter", "status": "opted_in"},
                         {"channel": "email", "topic": "offers", "paused_until": future()},
                         source="preference_centre", wording_version="signup-v3",
                         campaign="2026-11-spring", message_ref="msg-1")
    assert response.status_code == 200
    rows = await events(db, ann)
    assert [(r["topic"], r["action"]) for r in rows] == [("newsletter", "opt_in"),
                                                         ("offers", "paused")]
    for row in rows:
        assert row["source"] == "preference_centre"
        assert row["wording_version"] == "signup-v3"
        assert row["campaign"] == "2026-11-spring"
        assert row["message_ref"] == "msg-1"
        assert row["user_agent"] == "crm-sync/2.1"
        assert row["ip"]
        assert row["api_key_id"] == key_id
        assert row["occurred_at"] is not None
        assert row["address_key"]  # ann has one email address: the event names it


@pytest.mark.parametrize(("bad", "field"), [
    ({"channel": "email", "topic": "nope", "status": "opted_in"}, "preferences[1].topic"),
    ({"channel": "sms", "topic": "newsletter", "status": "opted_in"}, "preferences[1].topic"),
    ({"channel": "email", "topic": "offers"}, "preferences[1]"),
    ({"channel": "email", "paused_until": "2001-01-01T00:00:00Z"},
     "preferences[1].paused_until"),
    ({"channel": "email", "topic": "newsletter", "status": "opted_out"}, "preferences[1]"),
])
async def test_one_bad_item_fails_the_request_and_writes_nothing(
        client, admin_headers, db, ann, bad, field):
    response = await put(client, admin_headers, ann,
                         {"channel": "email", "topic": "newsletter", "status": "opted_in"}, bad)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert await events(db, ann) == []
    assert await db.fetchval("SELECT COUNT(*) FROM preference") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM change_feed") == 0


async def test_schema_errors_are_422_and_write_nothing(client, admin_headers, db, ann):
    for body in ({"preferences": [{"channel": "email", "status": "maybe"}]},
                 {"preferences": [{"channel": "email", "paused_until": "2099-01-01T00:00:00"}]},
                 {"preferences": []},
                 {"preferences": [{"channel": "email", "status": "opted_in"}], "source": "x"}):
        response = await client.put(f"/v1/contacts/{ann}/preferences", headers=admin_headers,
                                    json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"]
    assert await events(db, ann) == []


async def test_archived_topics_take_no_new_preferences(client, admin_headers, ann):
    await client.post("/v1/topics/offers/archive", headers=admin_headers)
    response = await put(client, admin_headers, ann,
                         {"channel": "email", "topic": "offers", "status": "opted_in"})
    assert response.status_code == 422
    assert "archived" in response.json()["errors"][0]["message"]


async def test_unknown_contact_is_404_and_writes_nothing(client, admin_headers, db, ann):
    response = await put(client, admin_headers, "nope", {"channel": "email", "status": "opted_in"})
    assert response.status_code == 404
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == 0
    read = await client.get("/v1/contacts/nope/preferences", headers=admin_headers)
    assert read.status_code == 404
    assert (await client.get("/v1/contacts/nope/events", headers=admin_headers)).status_code \
        == 404


async def test_pause_keeps_the_status_and_resume_lifts_it(client, admin_headers, world, ann):
    await put(client, admin_headers, ann,
              {"channel": "email", "topic": "newsletter", "status": "opted_in"})
    until = future(10)
    paused = await put(client, admin_headers, ann, {"channel": "email", "paused_until": until})
    whole = next(p for p in paused.json()["preferences"] if p["topic"] is None)
    assert whole["status"] == "none"
    assert datetime.fromisoformat(whole["paused_until"]) == datetime.fromisoformat(until)
    assert await world.reasons(NEWSLETTER) == ["paused"]
    resumed = await put(client, admin_headers, ann, {"channel": "email", "paused_until": None})
    assert resumed.json()["changed"] == 1
    assert await world.reasons(NEWSLETTER) == []
    both = await put(client, admin_headers, ann, {"channel": "email", "topic": "newsletter",
                                                  "status": "opted_out", "paused_until": until})
    assert both.json()["changed"] == 2
    topic_pref = next(p for p in both.json()["preferences"] if p["topic"] == "newsletter")
    assert topic_pref["status"] == "opted_out" and topic_pref["paused_until"]


async def test_the_send_decision_follows_what_the_api_wrote(client, admin_headers, world, ann):
    assert await world.reasons(NEWSLETTER) == ["no_consent"]
    assert await world.reasons(PRODUCT) == []
    await put(client, admin_headers, ann,
              {"channel": "email", "topic": "newsletter", "status": "opted_in"},
              {"channel": "email", "topic": "product-updates", "status": "opted_out"})
    assert await world.reasons(NEWSLETTER) == []
    # an API opt-out is the same choice as a one-click: the suppression comes with it
    assert await world.reasons(PRODUCT) == ["unsubscribed", "opted_out"]
    await put(client, admin_headers, ann, {"channel": "email", "status": "opted_out"})
    assert await world.reasons(NEWSLETTER) == ["unsubscribed", "opted_out"]
    assert await world.reasons(None) == ["unsubscribed", "opted_out"]
    assert await world.reasons(None, "sms", "+447911123456") == []


async def test_the_ledger_is_newest_first_and_paged_by_cursor(client, admin_headers, db, ann):
    for status in ("opted_in", "opted_out", "opted_in", "opted_out", "opted_in"):
        await put(client, admin_headers, ann,
                  {"channel": "email", "topic": "newsletter", "status": status})
    url = f"/v1/contacts/{ann}/events"
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(url, headers=admin_headers, params=params)).json()
        seen += page["events"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [e["action"] for e in seen] == ["opt_in", "opt_out", "opt_in", "opt_out", "opt_in"]
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert all(e["source"] == "api" and e["topic"] == "newsletter" for e in seen)
    bad = await client.get(url, headers=admin_headers, params={"cursor": "garbage!"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    too_many = await client.get(url, headers=admin_headers, params={"limit": 100000})
    assert too_many.status_code in (400, 422)
    # the ledger outlives the contact (erasure keeps the proof)
    await db.execute("DELETE FROM contact WHERE id = $1", ann)
    kept = await client.get(url, headers=admin_headers)
    assert kept.status_code == 200 and len(kept.json()["events"]) == 5


async def test_preference_and_ledger_scopes(client, make_key, ann):
    reader = await make_key("contacts:read")
    writer = await make_key("contacts:write")
    other = await make_key("suppressions:read", "suppressions:write", "links:write")
    body = {"preferences": [{"channel": "email", "status": "opted_in"}]}
    prefs, ledger = f"/v1/contacts/{ann}/preferences", f"/v1/contacts/{ann}/events"
    assert (await client.put(prefs, json=body)).status_code == 401
    assert (await client.put(prefs, headers=reader, json=body)).status_code == 403
    assert (await client.put(prefs, headers=other, json=body)).status_code == 403
    assert (await client.put(prefs, headers=writer, json=body)).status_code == 200
    for url in (prefs, ledger):
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers={"Authorization": "Bearer psk_x_y"})).status_code \
            == 401
        assert (await client.get(url, headers=other)).status_code == 403
        assert (await client.get(url, headers=reader)).status_code == 200


async def test_contact_and_preference_routes_are_documented_with_models(client):
    schema = (await client.get("/schema/openapi.json")).json()
    paths, components = schema["paths"], schema["components"]["schemas"]
    owned = {"/v1/contacts": ["post", "get"], "/v1/contacts/{contact_id}": ["get", "patch"],
             "/v1/contacts/{contact_id}/preferences": ["get", "put"],
             "/v1/contacts/{contact_id}/events": ["get"]}
    for path, methods in owned.items():
        for method in methods:
            operation = paths[path][method]
            ok = [code for code in operation["responses"] if code.startswith("2")]
            assert ok, (path, method)
            assert all(operation["responses"][c].get("content") for c in ok), (path, method)
    assert set(paths["/v1/contacts"]["post"]["responses"]) >= {"200", "201"}
    for name in ("ContactUpsert", "ContactUpdate", "ContactOut", "PreferencesUpdate",
                 "PreferencesOut", "EventPage"):
        assert components[name].get("examples"), name
