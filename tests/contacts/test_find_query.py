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
