"""ESP webhook fixtures: the sample payloads, and keys to sign them with.

The samples in ../shared/esp-samples carry documentation signatures that do not verify (SES,
Mailgun) or are unsigned (SendGrid's event lists), so the tests sign them with keys of their own,
configured in the settings; the real provider test vectors are checked as they are.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from service.webhooks import ses
from tests.conftest import make_settings

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "esp-samples"
if not SAMPLES.exists():  # the checkout next to ../shared
    SAMPLES = Path("/work/shared/esp-samples")
TEST_CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
MY_TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
MAILGUN_KEY = "test-mailgun-signing-key"
POSTMARK_AUTH = ("postmark", "s3cret-pass")
POSTMARK_HEADER = ("X-Hook-Secret", "header-secret-value")

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(_EC.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def real_vector_arns() -> list[str]:
    return [m["TopicArn"] for m in sample("sns-signature-vectors.json")["messages"]]


def sns_sign(message: dict, version: str = "1") -> dict:
    """The message signed by our test key, with the certificate URL the cache knows."""
    signed = {**message, "SignatureVersion": version, "SigningCertURL": TEST_CERT_URL}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signature = _RSA.sign(ses.string_to_sign(signed), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed


def sendgrid_headers(body: bytes, timestamp: str = "1700000000") -> dict[str, str]:
    signature = _EC.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json"}


def mailgun_signed(payload: dict, token: str, timestamp: int | None = None) -> dict:
    import hashlib
    import hmac
    import time

    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = hmac.new(MAILGUN_KEY.encode(), f"{stamp}{token}".encode(),
                         hashlib.sha256).hexdigest()
    return {**payload, "signature": {"timestamp": stamp, "token": token,
                                     "signature": signature}}


def _certificate(key, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))


@pytest.fixture(autouse=True)
def sns_certificates():
    """Certificates in the cache instead of fetched: ours, and the real vectors' (expired)."""
    real = x509.load_pem_x509_certificate(sample_bytes("sns-signing-cert-us-east-2.pem"))
    real_url = sample("sns-signature-vectors.json")["messages"][0]["SigningCertURL"]
    ses.CERT_CACHE[TEST_CERT_URL] = _certificate(_RSA, "sns.amazonaws.com").public_key()
    ses.CERT_CACHE[real_url] = real.public_key()
    yield
    ses.CERT_CACHE.clear()


@pytest.fixture(autouse=True)
def fresh_mailgun_tokens():
    """Mailgun tokens seen are remembered per process; each test starts with none."""
    from service.webhooks import mailgun

    mailgun._SEEN.clear()


@pytest.fixture
def settings(database_url, tmp_path):
    return make_settings(
        database_url, tmp_path,
        ses_sns_topic_arns=",".join([MY_TOPIC, *real_vector_arns()]),
        sendgrid_webhook_public_key=SENDGRID_PUBLIC,
        sendgrid_group_topics={"10": "offers"},
        mailgun_webhook_signing_key=MAILGUN_KEY,
        postmark_webhook_username=POSTMARK_AUTH[0],
        postmark_webhook_password=POSTMARK_AUTH[1],
        postmark_webhook_header=": ".join(POSTMARK_HEADER),
        soft_bounce_limit=3,
    )


@pytest.fixture
async def offers_topic(client, admin_headers):
    response = await client.post("/v1/topics", headers=admin_headers, json={
        "key": "offers", "name": "Offers", "channels": ["email"],
        "legal_basis": "soft_opt_in", "transactional": False})
    assert response.status_code == 201


@pytest.fixture
def suppressions(db, rt):
    """{(address, topic or None): [reasons]} of the email channel, for readable assertions."""
    async def read(*addresses: str) -> dict:
        found = {}
        for address in addresses:
            key = rt.parse_address("email", address)[1]
            rows = await db.fetch("SELECT topic, reason, source FROM suppression"
                                  " WHERE channel = 'email' AND address_key = $1 ORDER BY id",
                                  key)
            for row in rows:
                assert row["source"] == "esp_webhook"
                found.setdefault((address, row["topic"] or None), []).append(row["reason"])
        return found

    return read
