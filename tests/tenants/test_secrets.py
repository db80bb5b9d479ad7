"""TENANT_SECRETS (decision D8): read from JSON or a file, refused at start-up when unusable
(with messages that never show a secret), and given to a tenant's view of the runtime instead
of the default tenant's flat secrets."""

from __future__ import annotations

import json

import pytest

from service.security.tokens import BadToken, TokenData, TokenSigner
from service.settings import ConfigError
from service.tenants.secrets import secrets_of
from tests.conftest import make_settings

SECRET = "do-not-print-this-value-0123456789"
B_KEYS = ["brand-b-link-key-oldest-0123", "brand-b-link-key-newest-4567"]


@pytest.fixture
def settings(database_url, tmp_path):
    return make_settings(database_url, tmp_path, sendgrid_webhook_public_key="default-key",
                         twilio_auth_token="default-twilio", tenant_secrets=json.dumps(
                             {"b": {"twilio_auth_token": "b-twilio", "secret_keys": B_KEYS}}))


def test_json_or_a_file(tmp_path):
    entry = {"b": {"mailgun_webhook_signing_key": SECRET}}
    path = tmp_path / "tenant-secrets.json"
    path.write_text(json.dumps(entry))
    for given in (json.dumps(entry), str(path)):
        settings = make_settings("sqlite:///x.db", tmp_path, tenant_secrets=given)
        assert secrets_of(settings, "b")["mailgun_webhook_signing_key"] == SECRET
        assert secrets_of(settings, "other")["mailgun_webhook_signing_key"] == ""
        assert secrets_of(settings, "other")["vonage_signature_method"] == "md5hash"
        assert SECRET not in repr(settings)  # a logged Settings never shows them


@pytest.mark.parametrize("given, says", [
    ("{not json", "not JSON"),
    ("[]", "not JSON"),  # a path that does not exist
    ('["b"]', "JSON object"),
    (json.dumps({"default": {"twilio_auth_token": SECRET}}), "flat settings"),
    (json.dumps({"b": {"hash_key": SECRET}}), "TENANT_SECRETS['b']: hash_key"),
    (json.dumps({"b": {"twilio_auth_token": 12345}}), "twilio_auth_token"),
    (json.dumps({"b": {"secret_keys": ["short"]}}), "16 characters"),
    (json.dumps({"b": {"sendgrid_webhook_public_key": SECRET},
                 "c": {"sendgrid_webhook_public_key": SECRET}}), "'b' and 'c'"),
    (json.dumps({"b": {"mailgun_webhook_signing_key": "flat-key"}}), "'default' and 'b'"),
    (json.dumps({"b": {"ses_sns_topic_arns": "arn:one, arn:two"},
                 "c": {"ses_sns_topic_arns": "arn:two"}}), "ses_sns_topic_arns"),
])
def test_unusable_secrets_stop_the_start_without_showing_them(tmp_path, given, says):
    if given == "[]":
        given, says = str(tmp_path / "missing.json"), "cannot read"
    with pytest.raises(ConfigError) as refused:
        make_settings("sqlite:///x.db", tmp_path, mailgun_webhook_signing_key="flat-key",
                      tenant_secrets=given)
    message = str(refused.value)
    assert says in message
    assert SECRET not in message and "12345" not in message and "flat-key" not in message


def test_an_account_that_signs_the_url_may_serve_several_tenants(tmp_path):
    """Twilio, Plivo and Bird sign the URL called, slug included: one account, many tenants."""
    settings = make_settings("sqlite:///x.db", tmp_path, twilio_auth_token="shared-token",
                             tenant_secrets=json.dumps({"b": {"twilio_auth_token":
                                                              "shared-token"}}))
    assert secrets_of(settings, "b")["twilio_auth_token"] == "shared-token"


async def test_a_tenants_view_has_its_own_secrets_and_link_keys(rt, tenant_b, db):
    await rt.tenants.load(db)
    default, b = rt, rt.for_tenant(tenant_b.id)
    assert default.settings.twilio_auth_token == "default-twilio"
    assert b.settings.twilio_auth_token == "b-twilio"
    assert b.settings.sendgrid_webhook_public_key == ""  # never the default tenant's
    assert b.settings.secret_keys == B_KEYS
    c = rt.for_tenant(tenant_b.id + 1)  # no row, no entry: no provider secret at all
    assert c.settings.twilio_auth_token == "" and c.settings.sendgrid_webhook_public_key == ""

    data = TokenData("c-1", "email", "*")
    token = b.signer.sign("unsubscribe", data)
    assert token.startswith(f"t{tenant_b.id}~")
    assert TokenSigner(B_KEYS, tenant_id=tenant_b.id).verify("unsubscribe", token) == data
    with pytest.raises(BadToken):  # the ring derived from SECRET_KEYS no longer verifies it
        TokenSigner(rt.settings.secret_keys, tenant_id=tenant_b.id).verify("unsubscribe", token)
    older = TokenSigner(B_KEYS[:1], tenant_id=tenant_b.id).sign("unsubscribe", data)
    assert b.signer.verify("unsubscribe", older) == data  # rotation: the older key verifies
