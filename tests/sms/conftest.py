"""SMS webhook fixtures: settings with provider secrets, and senders that sign like each
provider does (the published methods; tests/sms/test_signatures.py pins them to vectors)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest

from service.sms import plivo, twilio
from tests.conftest import make_settings

BASE = "https://prefs.example.com"
TWILIO_TOKEN = "twilio-test-auth-token"
PLIVO_TOKEN = "plivo-test-auth-token"
SUPPORT = "help@example.com or 0800 123 456"
OUR_NUMBER = "+447700900001"  # a business sending number (Ofcom's drama range)
OTHER_OUR_NUMBER = "+447700900002"


@pytest.fixture
def settings(database_url, tmp_path):
    return make_settings(database_url, tmp_path, public_base_url=BASE,
                         twilio_auth_token=TWILIO_TOKEN, plivo_auth_token=PLIVO_TOKEN,
                         org_name="Example Ltd", org_support_contact=SUPPORT)


def twilio_form(sender: str, text: str, sid: str | None = None, to: str = OUR_NUMBER,
                **extra: str) -> dict[str, str]:
    return {"MessageSid": sid or f"SM{uuid.uuid4().hex}", "AccountSid": "AC" + "0" * 32,
            "From": sender, "To": to, "Body": text, "NumMedia": "0", **extra}


async def post_twilio(client, params: dict[str, str], signature: str | None = "sign"):
    """POST as Twilio does: the form, signed over the URL it calls (unless told otherwise)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = twilio.signature(TWILIO_TOKEN, f"{BASE}/v1/webhooks/twilio", params.items())
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return await client.post("/v1/webhooks/twilio", content=urlencode(params).encode(),
                             headers=headers)


def plivo_form(sender: str, text: str, uuid_: str | None = None,
               to: str = "447700900001") -> dict[str, str]:
    """Plivo's inbound message fields; numbers in E.164 without the `+`, as Plivo sends them."""
    return {"From": sender, "To": to, "Text": text, "Type": "sms",
            "MessageUUID": uuid_ or str(uuid.uuid4()), "Units": "1"}


async def post_plivo(client, params: dict[str, str], signature: str | None = "sign",
                     nonce: str = "12345678901234567890"):
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Plivo-Signature-V3-Nonce": nonce}
    if signature == "sign":
        signature = plivo.signature(PLIVO_TOKEN, f"{BASE}/v1/webhooks/plivo", params.items(),
                                    nonce)
    if signature is not None:
        headers["X-Plivo-Signature-V3"] = signature
    return await client.post("/v1/webhooks/plivo", content=urlencode(params).encode(),
                             headers=headers)


@pytest.fixture
def counts(db):
    """Rows of the tables an inbound SMS may write, to show that nothing was written."""
    async def read() -> dict[str, int]:
        return {table: await db.fetchval(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
                for table in ("sms_message", "suppression", "consent_event", "change_feed",
                              "preference")}

    return read
