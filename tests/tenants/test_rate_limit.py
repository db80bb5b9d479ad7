"""A tenant's own API rate limit (issue 18, "rate limits per tenant"), over HTTP with the real
app: the operator sets `rate_limit_api_per_minute` for a tenant; all its keys together get that
many requests a minute, then 429; the other tenants' requests are answered all along."""

from __future__ import annotations

import time

import pytest

from service.apikeys.logic import create_api_key
from service.db.tenant_db import TenantDb

CHECK = "/v1/suppressions/check"
PARAMS = {"channel": "email", "address": "ann@example.com"}


@pytest.fixture
def fresh_minute():
    """The budget is per clock minute: start far enough from its end that the test's requests
    all fall into one window."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


async def test_a_tenant_exhausting_its_limit_leaves_the_others_answered(
        client, raw_db, operator_headers, admin_headers, headers_b, tenant_b, fresh_minute):
    made = await client.post("/v1/tenants", headers=operator_headers, json={
        "slug": "small", "name": "Small Ltd", "settings": {"rate_limit_api_per_minute": 3}})
    assert made.status_code == 201, made.text
    small = TenantDb(raw_db, made.json()["id"])
    keys = [{"Authorization": f"Bearer {(await create_api_key(small, name, ['admin']))[1]}"}
            for name in ("one", "two")]

    answers = [(await client.get(CHECK, headers=keys[i % 2], params=PARAMS)).status_code
               for i in range(3)]
    assert answers == [200, 200, 200]
    for key in keys:  # the budget is the tenant's, whichever of its keys asks
        refused = await client.get(CHECK, headers=key, params=PARAMS)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["RateLimit-Limit"] == "3"
    # tenant b (no limit of its own) and the default tenant go on being answered
    for headers in (headers_b, admin_headers) * 5:
        assert (await client.get(CHECK, headers=headers, params=PARAMS)).status_code == 200
    assert (await client.get(CHECK, headers=keys[0], params=PARAMS)).status_code == 429

    # the operator lifts it (0: no tenant-wide limit); the change applies at once here
    lifted = await client.patch("/v1/tenants/small", headers=operator_headers,
                                json={"settings": {"rate_limit_api_per_minute": 0}})
    assert lifted.status_code == 200, lifted.text
    assert (await client.get(CHECK, headers=keys[1], params=PARAMS)).status_code == 200


async def test_the_limit_is_a_tenant_setting_and_secrets_are_not(client, operator_headers):
    for settings, field in (({"rate_limit_api_per_minute": -1}, "rate_limit_api_per_minute"),
                            ({"sendgrid_webhook_public_key": "x"}, "sendgrid_webhook_public_key"),
                            ({"secret_keys": ["k" * 20]}, "secret_keys")):
        refused = await client.post("/v1/tenants", headers=operator_headers,
                                    json={"slug": "x", "name": "X", "settings": settings})
        assert refused.status_code == 422, refused.text
        assert field in refused.text
