"""Topics carry `sale_or_sharing` (default false) through create, read, list and update, and in
the OpenAPI schema; a value that is not a JSON boolean is a 422 naming the field."""

from __future__ import annotations

PARTNERS = {"key": "partners", "name": "Partner offers", "channels": ["email"],
            "legal_basis": "consent"}


async def test_sale_or_sharing_round_trip(client, admin_headers, db):
    plain = await client.post("/v1/topics", headers=admin_headers,
                              json={**PARTNERS, "key": "newsletter", "name": "Newsletter"})
    assert plain.status_code == 201 and plain.json()["sale_or_sharing"] is False

    created = await client.post("/v1/topics", headers=admin_headers,
                                json={**PARTNERS, "sale_or_sharing": True})
    assert created.status_code == 201 and created.json()["sale_or_sharing"] is True
    listed = (await client.get("/v1/topics", headers=admin_headers)).json()
    assert {t["key"]: t["sale_or_sharing"] for t in listed} == {"newsletter": False,
                                                                 "partners": True}
    updated = await client.patch("/v1/topics/newsletter", headers=admin_headers,
                                 json={"sale_or_sharing": True})
    assert updated.status_code == 200 and updated.json()["sale_or_sharing"] is True
    # a change of the name alone keeps the flag
    renamed = await client.patch("/v1/topics/partners", headers=admin_headers,
                                 json={"name": "Offers from partners"})
    assert renamed.json()["sale_or_sharing"] is True


async def test_sale_or_sharing_must_be_a_boolean(client, admin_headers, db):
    for value in ("yes", 1, "true"):
        response = await client.post("/v1/topics", headers=admin_headers,
                                     json={**PARTNERS, "sale_or_sharing": value})
        assert response.status_code in (400, 422)
        assert response.json()["errors"][0]["field"] == "sale_or_sharing"
    assert await db.fetchval("SELECT COUNT(*) FROM topic") == 0


async def test_the_schema_documents_the_flag(client):
    schema = (await client.get("/schema/openapi.json")).json()
    for name in ("TopicCreate", "TopicUpdate", "TopicOut"):
        field = schema["components"]["schemas"][name]["properties"]["sale_or_sharing"]
        assert "Global Privacy Control" in str(field), name
