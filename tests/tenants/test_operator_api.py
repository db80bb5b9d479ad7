"""The operator's tenants API and the tenant a /v1 request acts in: an operator key manages
tenants and names the one it acts in with X-Tenant; other keys act in their own tenant only."""

from __future__ import annotations

TENANT = {"slug": "acme", "name": "Acme Ltd", "controller_group": "acme-group",
          "settings": {"org_primary_colour": "#aa0000", "default_language": "de"},
          "domains": ["Prefs.Acme.example"]}


async def tenant_rows(db) -> list[tuple]:
    return [tuple(r) for r in await db.fetch("SELECT id, slug, name, settings FROM tenant"
                                             " ORDER BY id")]


async def test_an_operator_creates_lists_reads_and_updates_tenants(client, operator_headers):
    made = await client.post("/v1/tenants", headers=operator_headers, json=TENANT)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["id"] > 1 and body["slug"] == "acme" and body["name"] == "Acme Ltd"
    assert body["settings"] == TENANT["settings"]
    assert body["domains"] == ["prefs.acme.example"]
    assert body["controller_group"] == "acme-group"

    listed = await client.get("/v1/tenants", headers=operator_headers)
    assert listed.status_code == 200
    assert [t["slug"] for t in listed.json()] == ["default", "acme"]

    read = await client.get("/v1/tenants/acme", headers=operator_headers)
    assert read.status_code == 200 and read.json() == body

    changed = await client.patch("/v1/tenants/acme", headers=operator_headers, json={
        "name": "Acme Group Ltd", "settings": {"org_logo_url": "https://acme.example/l.png",
                                               "default_language": None}})
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["name"] == "Acme Group Ltd"
    # merged: a null setting is unset, the others kept
    assert after["settings"] == {"org_primary_colour": "#aa0000",
                                 "org_logo_url": "https://acme.example/l.png"}
    assert after["controller_group"] == "acme-group" and after["slug"] == "acme"

    assert (await client.get("/v1/tenants/nosuch", headers=operator_headers)).status_code == 404
    assert (await client.patch("/v1/tenants/nosuch", headers=operator_headers,
                               json={"name": "x"})).status_code == 404


async def test_the_tenants_api_is_for_operator_keys_only(client, admin_headers, headers_b):
    for headers in (admin_headers, headers_b):
        for method, url, body in (("GET", "/v1/tenants", None),
                                  ("POST", "/v1/tenants", {"slug": "x", "name": "X"}),
                                  ("GET", "/v1/tenants/b", None),
                                  ("PATCH", "/v1/tenants/b", {"name": "Mine now"})):
            response = await client.request(method, url, headers=headers, json=body)
            assert response.status_code == 403, (method, url, response.text)
            assert "operator" in response.json()["detail"]


async def test_an_operator_key_names_its_tenant_on_every_other_route(
        client, db, operator_headers, headers_b, tenant_b):
    missing = await client.get("/v1/api-keys", headers=operator_headers)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "X-Tenant"
    assert "X-Tenant" in missing.json()["detail"]

    unknown = await client.get("/v1/api-keys", headers={**operator_headers, "X-Tenant": "nosuch"})
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "X-Tenant"

    # named: it acts as admin inside that tenant, and only there
    in_b = {**operator_headers, "X-Tenant": "b"}
    made = await client.post("/v1/api-keys", headers=in_b,
                             json={"name": "made-by-operator", "scopes": ["contacts:read"]})
    assert made.status_code == 201, made.text
    names_b = [k["name"] for k in (await client.get("/v1/api-keys", headers=headers_b)).json()]
    assert names_b == ["b-admin", "made-by-operator"]
    names_default = [k["name"] for k in (await client.get(
        "/v1/api-keys", headers={**operator_headers, "X-Tenant": "default"})).json()]
    assert "made-by-operator" not in names_default and "test-operator" in names_default


async def test_another_tenants_slug_in_x_tenant_is_403(client, admin_headers, headers_b):
    foreign = await client.get("/v1/api-keys", headers={**headers_b, "X-Tenant": "default"})
    assert foreign.status_code == 403
    assert "X-Tenant" in foreign.json()["detail"]
    unknown = await client.get("/v1/api-keys", headers={**admin_headers, "X-Tenant": "nosuch"})
    assert unknown.status_code == 403
    own = await client.get("/v1/api-keys", headers={**headers_b, "X-Tenant": "b"})
    assert own.status_code == 200
    assert [k["name"] for k in own.json()] == ["b-admin"]


async def test_bad_input_is_422_naming_the_field_and_writes_nothing(client, db,
                                                                    operator_headers):
    before = await tenant_rows(db)
    cases = [
        ({"slug": "Not Valid", "name": "X"}, "slug"),
        ({"slug": "-x", "name": "X"}, "slug"),
        ({"slug": "x" * 41, "name": "X"}, "slug"),
        ({"slug": "x"}, "name"),
        ({"slug": "x", "name": ""}, "name"),
        ({"slug": "x", "name": "X", "settings": {"hash_key": "mine"}}, "settings.hash_key"),
        ({"slug": "x", "name": "X", "settings": {"org_primary_colour": "red;}"}},
         "settings.org_primary_colour"),
        ({"slug": "x", "name": "X", "settings": {"default_language": "xx"}},
         "settings.default_language"),
        ({"slug": "x", "name": "X", "domains": ["not a host"]}, "domains.0"),
    ]
    for body, field in cases:
        response = await client.post("/v1/tenants", headers=operator_headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (body, response.text)
    unknown = await client.post("/v1/tenants", headers=operator_headers, json={
        "slug": "x", "name": "X", "settings": {"secret_keys": ["k"]}})
    # refused by the schema itself (`additionalProperties: false`; its description lists them)
    assert unknown.json()["errors"][0]["field"] == "settings.secret_keys"
    assert await tenant_rows(db) == before

    taken = await client.post("/v1/tenants", headers=operator_headers,
                              json={"slug": "default", "name": "Again"})
    assert taken.status_code == 409
    assert taken.json()["errors"][0]["field"] == "slug"
    patched = await client.patch("/v1/tenants/default", headers=operator_headers,
                                 json={"settings": {"org_name": "Elsewhere"}})
    assert patched.status_code == 422  # the default tenant's settings are the environment's
    assert patched.json()["errors"][0]["field"] == "settings"
    bad_patch = await client.patch("/v1/tenants/default", headers=operator_headers,
                                   json={"settings": {"nope": 1}})
    assert bad_patch.status_code == 422
    assert await tenant_rows(db) == before


async def test_a_host_name_serves_one_tenant(client, operator_headers):
    first = await client.post("/v1/tenants", headers=operator_headers,
                              json={"slug": "one", "name": "One", "domains": ["p.one.example"]})
    assert first.status_code == 201
    second = await client.post("/v1/tenants", headers=operator_headers,
                               json={"slug": "two", "name": "Two", "domains": ["P.one.example"]})
    assert second.status_code == 409
    assert second.json()["errors"][0]["field"] == "domains"


async def test_only_an_operator_key_creates_an_operator_key(client, admin_headers,
                                                            operator_headers):
    body = {"name": "escalate", "scopes": ["operator"]}
    refused = await client.post("/v1/api-keys", headers=admin_headers, json=body)
    assert refused.status_code == 403
    made = await client.post("/v1/api-keys", json=body,
                             headers={**operator_headers, "X-Tenant": "default"})
    assert made.status_code == 201


async def test_settings_integers_are_json_integers(client, operator_headers):
    """As the schema says (`integer`): 3.0 is one; false, 1.5 and "3" are not (pydantic's lax
    mode, which Litestar asks for, would have taken false as 0)."""
    for value in (False, 1.5, "3"):
        refused = await client.post("/v1/tenants", headers=operator_headers, json={
            "slug": "x", "name": "X", "settings": {"soft_bounce_limit": value}})
        assert refused.status_code == 422, (value, refused.text)
        assert refused.json()["errors"][0]["field"] == "settings.soft_bounce_limit"
    made = await client.post("/v1/tenants", headers=operator_headers, json={
        "slug": "x", "name": "X", "settings": {"soft_bounce_limit": 3.0,
                                               "external_list_max_age_days": {"tps": 7.0}}})
    assert made.status_code == 201, made.text
    assert made.json()["settings"] == {"soft_bounce_limit": 3,
                                       "external_list_max_age_days": {"TPS": 7}}


async def test_settings_booleans_are_json_booleans(client, operator_headers):
    """As the schema says (`boolean`): 0, 1 and "yes" are refused (found by fuzzing: lax
    mode took `stop_all_brands: 0` as false)."""
    for value in (0, 1, "yes"):
        refused = await client.post("/v1/tenants", headers=operator_headers, json={
            "slug": "x", "name": "X", "settings": {"stop_all_brands": value}})
        assert refused.status_code == 422, (value, refused.text)
        assert refused.json()["errors"][0]["field"] == "settings.stop_all_brands"
    made = await client.post("/v1/tenants", headers=operator_headers, json={
        "slug": "x", "name": "X", "settings": {"stop_all_brands": True}})
    assert made.status_code == 201, made.text
    assert made.json()["settings"] == {"stop_all_brands": True}
