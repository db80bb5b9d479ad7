"""A wording version's language tag is bounded by its column (VARCHAR(16)): a longer tag that
the pattern allows is a 422 on both engines (schemathesis found a 500 on PostgreSQL)."""

from __future__ import annotations


async def test_a_language_tag_longer_than_its_column_is_a_422(client, admin_headers):
    body = {"key": "signup-v9", "text": "Yes, please.", "language": "oH-00ykrXYG-Nei6AJee"}
    response = await client.post("/v1/wording-versions", headers=admin_headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "language"
    ok = await client.post("/v1/wording-versions", headers=admin_headers,
                           json={**body, "language": "de-CH"})
    assert ok.status_code == 201, ok.text
