"""`GET /v1/contacts?channel=&address=`: the address query parameter has the bounds of an
address in a body, checked before the handler uses it (schemathesis found an empty one
answered 500)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("address", ["", "x" * 1001])
async def test_an_empty_or_overlong_address_is_a_422(client, admin_headers, address):
    response = await client.get("/v1/contacts", params={"channel": "post", "address": address},
                                headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "address"


async def test_an_unknown_channel_is_a_422_naming_it(client, admin_headers):
    response = await client.get("/v1/contacts", params={"channel": "pigeon", "address": "a"},
                                headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "channel"


async def test_an_unencoded_plus_in_the_address_is_read_as_a_plus(client, admin_headers):
    """`?address=ann+news@...` as a mailer's URL builder writes it (the `+` not encoded, so it
    arrives as a space) finds the contact, as the check reads the same query; in a JSON body
    a space stays a space and the address is refused."""
    made = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "email", "address": "ann+news@example.com"}]})
    assert made.status_code == 201, made.text
    for query in ("address=ann+news@example.com", "address=ann%2Bnews@example.com"):
        found = await client.get(f"/v1/contacts?channel=email&{query}", headers=admin_headers)
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()] == [made.json()["id"]], query
    spaced = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "email", "address": "ann news@example.com"}]})
    assert spaced.status_code == 422
    assert spaced.json()["errors"][0]["field"].startswith("addresses")
