"""Access to the integration API: every route under /v1, read from the app itself with the scope
its handler declares, refuses a missing, wrong, revoked or under-scoped key (401/403) before
doing anything, and accepts the right one; the public ESP webhook routes refuse unsigned
requests instead."""

from __future__ import annotations

import base64
import json
import re
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from service.apikeys.logic import SCOPES, create_api_key
from service.app import create_app
from service.sms.providers import PROVIDERS as SMS_PROVIDERS
from service.webhooks.routes import PROVIDERS
from tests.conftest import make_settings
from tests.unsubscribe.helpers import counts

_PARAM = re.compile(r"\{(\w+):(\w+)\}")


def v1_routes(app) -> list[tuple[str, str, str | None, bool]]:
    """(method, path template, declared scope, public webhook) of every /v1 handler."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/v1/"):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                if method == "OPTIONS":
                    continue
                found.append((method, route.path, handler.opt.get("scope"),
                              bool(handler.opt.get("public_webhook"))))
    return found


def concrete(path: str) -> str:
    return _PARAM.sub(lambda m: "1" if m.group(2) == "int" else "x", path)


@pytest.fixture
async def full_app(database_url, tmp_path):
    """The app with every optional route mounted (the bench routes too), API limit off."""
    app = create_app(make_settings(database_url, tmp_path, bench_routes=True,
                                   rate_limit_api_per_minute=0))
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        yield app, client


def test_the_route_list_covers_the_api(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path}/unused.db", tmp_path,
                                   bench_routes=True))
    routes = v1_routes(app)
    paths = {(method, path) for method, path, _, _ in routes}
    assert len(routes) >= 35
    for expected in [("GET", "/v1/suppressions/check"), ("POST", "/v1/suppressions/check"),
                     ("POST", "/v1/links"), ("DELETE", "/v1/contacts/{contact_id:str}"),
                     ("POST", "/v1/api-keys"), ("GET", "/v1/bench/raw-check")]:
        assert expected in paths
    # the only routes without an API key: the ESP and SMS webhooks (a signature each)
    # (the default tenant's, and each tenant's by its slug)
    assert sorted(p for _, p, _, public in routes if public) == sorted(
        [f"/v1/webhooks/{name}{tenant}" for name in ["{provider:str}", *SMS_PROVIDERS]
         for tenant in ("", "/{tenant:str}")])


async def test_every_v1_route_refuses_bad_keys_and_accepts_the_right_one(full_app, db):
    app, client = full_app
    routes = [r for r in v1_routes(app) if not r[3]]
    revoked_id, revoked = await create_api_key(db, "revoked", ["admin"])
    keys = {}
    for scope in SCOPES:
        keys[scope] = (await create_api_key(db, f"only {scope}", [scope]))[1]
        others = [s for s in SCOPES if s not in (scope, "admin", "operator")]
        keys["all but " + scope] = (await create_api_key(db, f"all but {scope}", others))[1]
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    assert (await client.delete(f"/v1/api-keys/{revoked_id}", headers=admin)).status_code == 204
    prefix = revoked.split("_")[1]
    changed = keys["admin"][:-1] + ("B" if keys["admin"][-1] != "B" else "C")
    wrong = {
        "missing": {},
        "empty bearer": {"Authorization": "Bearer "},
        "not bearer": {"Authorization": f"Basic {base64.b64encode(b'admin:admin').decode()}"},
        "garbage": {"Authorization": "Bearer not-a-key"},
        "unknown prefix": {"Authorization": f"Bearer psk_{secrets.token_hex(6)}_{'A' * 43}"},
        "right prefix, wrong secret": {"Authorization": f"Bearer psk_{prefix}_{'A' * 43}"},
        "admin key with a character changed": {"Authorization": f"Bearer {changed}"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
        "in the query, not the header": {},
    }
    before = await counts(db)
    for method, template, scope, _ in routes:
        path = concrete(template)
        required = scope or "admin"
        for name, headers in wrong.items():
            url = path + (f"?api_key={keys['admin']}" if name.startswith("in the query") else "")
            response = await client.request(method, url, headers=headers, json={})
            assert response.status_code == 401, (method, template, name, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["detail"]
        under = {"Authorization": f"Bearer {keys['all but ' + required]}"}
        response = await client.request(method, path, headers=under, json={})
        assert response.status_code == 403, (method, template, required, response.text)
        assert required in response.json()["detail"]
    assert await counts(db) == before, "a refused request wrote something"

    # the right key gets past the guard (into validation, 404, ... but never 401/403)
    for method, template, scope, _ in routes:
        required = scope or "admin"
        for key in {keys[required], keys["admin" if required != "operator" else required]}:
            response = await client.request(method, concrete(template), json={},
                                            headers={"Authorization": f"Bearer {key}"})
            assert response.status_code not in (401, 403), (method, template, response.text)
            assert response.status_code < 500, (method, template, response.text)


def sendgrid_public_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


UNSIGNED = {
    "ses": json.dumps({"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:x",
                       "Message": json.dumps({"notificationType": "Bounce", "bounce": {
                           "bounceType": "Permanent",
                           "bouncedRecipients": [{"emailAddress": "ann@example.com"}]}}),
                       "Timestamp": "2026-01-01T00:00:00Z", "SignatureVersion": "1",
                       "Signature": "AAAA",
                       "SigningCertURL": "https://evil.example.com/cert.pem"}),
    "sendgrid": json.dumps([{"email": "ann@example.com", "event": "bounce", "type": "bounce",
                             "timestamp": 1767225600}]),
    "mailgun": json.dumps({"event-data": {"event": "failed", "severity": "permanent",
                                          "recipient": "ann@example.com"}}),
    "postmark": json.dumps({"RecordType": "Bounce", "Type": "HardBounce",
                            "Email": "ann@example.com"}),
}


@pytest.mark.parametrize("configured", [False, True])
async def test_esp_webhooks_refuse_unsigned_requests(database_url, tmp_path, db, configured):
    extra = dict(mailgun_webhook_signing_key="mg-signing-key-0123456789",
                 postmark_webhook_username="pm", postmark_webhook_password="pm-secret-0123",
                 sendgrid_webhook_public_key=sendgrid_public_key()) if configured else {}
    app = create_app(make_settings(database_url, tmp_path, **extra))
    assert set(UNSIGNED) == set(PROVIDERS)
    before = await counts(db)
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        for provider, body in UNSIGNED.items():
            for headers in ({"Content-Type": "application/json"},
                            {"Content-Type": "application/json",  # an API key is no signature
                             "Authorization": "Bearer psk_000000000000_x"},
                            {"Content-Type": "application/json",  # nor wrong credentials
                             "Authorization": "Basic " + base64.b64encode(b"pm:wrong").decode(),
                             "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ==",
                             "X-Twilio-Email-Event-Webhook-Timestamp": "1767225600"}):
                response = await client.post(f"/v1/webhooks/{provider}", content=body,
                                             headers=headers)
                assert response.status_code in (401, 403), (provider, response.text)
    assert await counts(db) == before
