"""Bad input gets a clear 4xx naming the field, the same on both engines; never a 500."""

from __future__ import annotations


async def test_nul_characters_are_refused_on_both_engines(client, admin_headers, db):
    response = await client.post("/v1/api-keys", headers=admin_headers,
                                 json={"name": "a\u0000b", "scopes": ["admin"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert await db.fetchval("SELECT COUNT(*) FROM api_key WHERE name LIKE 'a%b'") == 0
    response = await client.get("/v1/topics?include_archived=%00", headers=admin_headers)
    assert response.status_code == 422


async def test_query_parameter_errors_name_the_parameter(client, admin_headers):
    response = await client.get("/v1/contacts/abc/events?limit=notanumber", headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


async def test_malformed_json_is_a_400_with_the_error_shape(client, admin_headers):
    response = await client.post("/v1/api-keys", headers={**admin_headers,
                                 "content-type": "application/json"}, content=b"{not json")
    assert response.status_code == 400
    assert set(response.json()) >= {"detail", "errors"}
