"""Scoped API keys: 401 without a valid key, 403 without the scope, revocation at once."""

from __future__ import annotations


async def test_missing_and_wrong_keys_are_401(client, admin_headers):
    assert (await client.get("/v1/api-keys")).status_code == 401
    bad = {"Authorization": "Bearer psk_nothere_secret"}
    assert (await client.get("/v1/api-keys", headers=bad)).status_code == 401
    # right prefix, wrong secret
    prefix = admin_headers["Authorization"].split("_")[1]
    forged = {"Authorization": f"Bearer psk_{prefix}_wrongsecret"}
    assert (await client.get("/v1/api-keys", headers=forged)).status_code == 401
    assert (await client.get("/v1/api-keys", headers=admin_headers)).status_code == 200


async def test_missing_scope_is_403(client, make_key):
    headers = await make_key("contacts:read")
    response = await client.get("/v1/api-keys", headers=headers)
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


async def test_only_a_hash_is_stored_and_revocation_is_immediate(client, db, admin_headers):
    created = await client.post("/v1/api-keys", headers=admin_headers,
                                json={"name": "crm", "scopes": ["contacts:read"]})
    assert created.status_code == 201
    body = created.json()
    secret = body["key"]
    rows = await db.fetch("SELECT * FROM api_key")
    assert all(secret not in [str(v) for v in tuple(r)] for r in rows)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/v1/api-keys", headers=headers)).status_code == 403  # scope
    revoked = await client.delete(f"/v1/api-keys/{body['id']}", headers=admin_headers)
    assert revoked.status_code == 204
    assert (await client.get("/v1/api-keys", headers=headers)).status_code == 401


async def test_unknown_scope_is_a_clear_422(client, admin_headers):
    response = await client.post("/v1/api-keys", headers=admin_headers,
                                 json={"name": "x", "scopes": ["everything"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "scopes"


async def test_api_rate_limit_answers_429_with_retry_after(database_url, tmp_path, db):
    from litestar.testing import AsyncTestClient

    from service.apikeys.logic import create_api_key
    from service.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, tmp_path, rate_limit_api_per_minute=3))
    _, key = await create_api_key(db, "limited", ["admin"])
    headers = {"Authorization": f"Bearer {key}"}
    async with AsyncTestClient(app=app) as limited:
        codes = [(await limited.get("/v1/api-keys", headers=headers)).status_code
                 for _ in range(4)]
        last = await limited.get("/v1/api-keys", headers=headers)
    assert codes[:3] == [200, 200, 200]
    assert last.status_code == 429
    assert int(last.headers["retry-after"]) > 0
