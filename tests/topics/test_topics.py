"""Topics API: the contract shape, validation, archive, and its scopes."""

from __future__ import annotations

import pytest

NEWSLETTER = {"key": "newsletter", "name": "Newsletter", "channels": ["email"],
              "legal_basis": "consent", "transactional": False}


async def test_create_answers_201_with_the_topic(client, admin_headers):
    response = await client.post("/v1/topics", headers=admin_headers,
                                 json={**NEWSLETTER, "description": "Monthly news"})
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in NEWSLETTER} == NEWSLETTER
    assert body["description"] == "Monthly news"
    assert body["archived"] is False
    fetched = await client.get("/v1/topics/newsletter", headers=admin_headers)
    assert fetched.json() == body


async def test_a_taken_key_is_409_and_changes_nothing(client, admin_headers, db):
    await client.post("/v1/topics", headers=admin_headers, json=NEWSLETTER)
    again = await client.post("/v1/topics", headers=admin_headers,
                              json={**NEWSLETTER, "name": "Other"})
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "key"
    assert await db.fetchval("SELECT name FROM topic WHERE key = 'newsletter'") == "Newsletter"


@pytest.mark.parametrize(("change", "field"), [
    ({"channels": ["email", "pigeon"]}, "channels.1"),
    ({"channels": []}, "channels"),
    ({"legal_basis": "because"}, "legal_basis"),
    ({"key": "Has Spaces"}, "key"),
    ({"name": ""}, "name"),
])
async def test_bad_topics_are_422_naming_the_field(client, admin_headers, db, change, field):
    response = await client.post("/v1/topics", headers=admin_headers,
                                 json={**NEWSLETTER, **change})
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await db.fetchval("SELECT COUNT(*) FROM topic") == 0


async def test_update_changes_only_the_given_fields(client, admin_headers):
    await client.post("/v1/topics", headers=admin_headers, json=NEWSLETTER)
    response = await client.patch("/v1/topics/newsletter", headers=admin_headers,
                                  json={"channels": ["email", "post"],
                                        "legal_basis": "legitimate_interest"})
    assert response.status_code == 200
    body = response.json()
    assert body["channels"] == ["email", "post"]
    assert body["legal_basis"] == "legitimate_interest"
    assert body["name"] == "Newsletter"
    bad = await client.patch("/v1/topics/newsletter", headers=admin_headers,
                             json={"channels": ["telegram"]})
    assert bad.status_code == 422
    missing = await client.patch("/v1/topics/nope", headers=admin_headers, json={"name": "x"})
    assert missing.status_code == 404


async def test_archived_topics_leave_the_list_and_can_come_back(client, admin_headers):
    await client.post("/v1/topics", headers=admin_headers, json=NEWSLETTER)
    await client.post("/v1/topics", headers=admin_headers,
                      json={**NEWSLETTER, "key": "account", "transactional": True})
    archived = await client.post("/v1/topics/newsletter/archive", headers=admin_headers)
    assert archived.status_code == 200 and archived.json()["archived"] is True
    listed = await client.get("/v1/topics", headers=admin_headers)
    assert [t["key"] for t in listed.json()] == ["account"]
    everything = await client.get("/v1/topics?include_archived=true", headers=admin_headers)
    assert [t["key"] for t in everything.json()] == ["account", "newsletter"]
    restored = await client.post("/v1/topics/newsletter/restore", headers=admin_headers)
    assert restored.json()["archived"] is False
    assert len((await client.get("/v1/topics", headers=admin_headers)).json()) == 2


async def test_topic_scopes(client, make_key):
    reader = await make_key("contacts:read")
    writer = await make_key("contacts:write")
    admin = await make_key("admin")
    assert (await client.post("/v1/topics", json=NEWSLETTER)).status_code == 401
    assert (await client.post("/v1/topics", headers=reader, json=NEWSLETTER)).status_code == 403
    assert (await client.post("/v1/topics", headers=writer, json=NEWSLETTER)).status_code == 403
    assert (await client.post("/v1/topics", headers=admin, json=NEWSLETTER)).status_code == 201
    assert (await client.get("/v1/topics")).status_code == 401
    assert (await client.get("/v1/topics", headers=reader)).status_code == 200
    assert (await client.get("/v1/topics/newsletter", headers=reader)).status_code == 200
    assert (await client.get("/v1/topics/newsletter", headers={})).status_code == 401
    for path in ("/v1/topics/newsletter/archive", "/v1/topics/newsletter/restore"):
        assert (await client.post(path, headers=reader)).status_code == 403
        assert (await client.post(path)).status_code == 401
    patched = await client.patch("/v1/topics/newsletter", headers=reader, json={"name": "x"})
    assert patched.status_code == 403
    assert (await client.patch("/v1/topics/newsletter", json={"name": "x"})).status_code == 401


async def test_every_topic_route_is_documented_with_models(client):
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    create = paths["/v1/topics"]["post"]
    assert "201" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["schema"]
    for path in ("/v1/topics/{key}", "/v1/topics/{key}/archive", "/v1/topics/{key}/restore"):
        assert path in paths
    assert "TopicCreate" in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["TopicCreate"].get("examples")
