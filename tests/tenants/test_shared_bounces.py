"""Hard-bounce sharing across tenants (issue 18, decision D10), end to end over HTTP on both
engines. The default tenant (A) hears from Postmark at its own URL; tenant B asks the checks
(in the last test the other way round: B's own Postmark account posts to B's URL). Off (the
default): B's answers never change. On: B's single and bulk checks answer `undeliverable`, with
nothing of A's (no source, no time); complaints and unsubscribes stay A's; A lifting its hard
bounce withdraws the claim; turning the setting off later leaves the rows unread."""

from __future__ import annotations

import base64
import json

import pytest
from litestar.testing import AsyncTestClient
from pydantic import ValidationError

from service.app import create_app
from service.consent.state_queries import STATE, STATE_SQL
from service.settings import TenantSettings
from tests.conftest import make_settings

CHECK = "/v1/suppressions/check"
BOUNCED, COMPLAINED, UNSUBSCRIBED = "ann@example.com", "bob@example.com", "cy@example.com"
POSTMARK = ("postmark", "s3cret-pass")
B_POSTMARK = ("postmark-b", "b-s3cret-pass")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH = basic(*POSTMARK)
SHARING = pytest.mark.parametrize("settings", [True], indirect=True, ids=["sharing"])


@pytest.fixture
def settings(request, database_url, tmp_path):
    """Postmark configured; SHARE_HARD_BOUNCES as the test's `settings` parameter (off)."""
    return make_settings(database_url, tmp_path, postmark_webhook_username=POSTMARK[0],
                         postmark_webhook_password=POSTMARK[1],
                         share_hard_bounces=getattr(request, "param", False),
                         tenant_secrets=json.dumps({"b": {
                             "postmark_webhook_username": B_POSTMARK[0],
                             "postmark_webhook_password": B_POSTMARK[1]}}))


@pytest.fixture(autouse=True)
def plain_statements_after():
    """The statements are the process's choice: leave the next test the default one."""
    yield
    STATE.share_hard_bounces(False)


async def postmark(client, record_type: str, kind: str, address: str,
                   url: str = "/v1/webhooks/postmark", headers: dict = AUTH) -> None:
    record = {"RecordType": record_type, "Type": kind, "Email": address,
              "BouncedAt": "2026-12-01T10:00:00Z", "MessageID": f"msg-{address}"}
    response = await client.post(url, content=json.dumps(record), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["suppressed"] == 1, response.text


async def a_hears_from_its_esp(client) -> None:
    await postmark(client, "Bounce", "HardBounce", BOUNCED)
    await postmark(client, "SpamComplaint", "SpamComplaint", COMPLAINED)
    await postmark(client, "Bounce", "Unsubscribe", UNSUBSCRIBED)


async def check(client, headers, address: str) -> dict:
    response = await client.get(CHECK, headers=headers,
                                params={"channel": "email", "address": address})
    assert response.status_code == 200, response.text
    return response.json()


async def bulk(client, headers, *addresses: str) -> dict:
    response = await client.post(CHECK, headers=headers,
                                 json={"channel": "email", "addresses": list(addresses)})
    assert response.status_code == 200, response.text
    return response.json()


async def test_off_a_hard_bounce_stays_in_its_tenant(client, admin_headers, headers_b, raw_db):
    assert STATE.single is STATE_SQL  # the single-tenant statement itself, byte for byte
    await a_hears_from_its_esp(client)
    assert (await check(client, admin_headers, BOUNCED))["reasons"] == ["hard_bounce"]
    assert (await check(client, headers_b, BOUNCED))["allowed"] is True
    assert (await bulk(client, headers_b, BOUNCED, COMPLAINED, UNSUBSCRIBED))["blocked"] == []
    assert await raw_db.fetchval("SELECT COUNT(*) FROM shared_bounce") == 0


@SHARING
async def test_on_other_tenants_see_undeliverable_and_nothing_else(
        client, admin_headers, headers_b, tenant_b, raw_db):
    assert STATE.single is not STATE_SQL and STATE.single.startswith(STATE_SQL)
    await a_hears_from_its_esp(client)
    # B: blocked, as `undeliverable`, and the answer carries nothing of A's
    assert await check(client, headers_b, BOUNCED) == {
        "channel": "email", "address": BOUNCED, "topic": None, "allowed": False,
        "reasons": ["undeliverable"], "next_allowed_at": None}
    assert await bulk(client, headers_b, BOUNCED, COMPLAINED, UNSUBSCRIBED, "new@example.com") \
        == {"checked": 4, "blocked": [{"address": BOUNCED, "reasons": ["undeliverable"]}],
            "invalid": []}
    # complaints and unsubscribes are A's relationship with the person: never shared
    for address in (COMPLAINED, UNSUBSCRIBED):
        assert (await check(client, headers_b, address))["allowed"] is True
    # A sees its own suppression (with its reason), not its own shared row a second time
    assert (await check(client, admin_headers, BOUNCED))["reasons"] == ["hard_bounce"]
    # nothing is written into B: no suppression, no feed entry, no ledger event
    assert (await client.get("/v1/suppressions", headers=headers_b)).json()["entries"] == []
    for table in ("suppression", "change_feed", "consent_event"):
        assert await raw_db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = $1",
                                     tenant_b.id) == 0
    # one row, A's, for the hard bounce only; a repeat of the bounce writes no second one
    await client.post("/v1/webhooks/postmark", headers=AUTH, content=json.dumps(
        {"RecordType": "Bounce", "Type": "HardBounce", "Email": BOUNCED}))
    rows = await raw_db.fetch("SELECT channel, tenant_id FROM shared_bounce")
    assert [tuple(r) for r in rows] == [("email", 1)]


@SHARING
async def test_lifting_the_hard_bounce_withdraws_the_shared_one(client, admin_headers,
                                                                headers_b, raw_db):
    await postmark(client, "Bounce", "HardBounce", BOUNCED)
    assert (await check(client, headers_b, BOUNCED))["reasons"] == ["undeliverable"]
    lifted = await client.delete(f"/v1/suppressions/email/{BOUNCED}", headers=admin_headers,
                                 params={"reason": "hard_bounce"})
    assert lifted.status_code == 200, lifted.text
    assert (await check(client, headers_b, BOUNCED))["allowed"] is True
    assert (await check(client, admin_headers, BOUNCED))["allowed"] is True
    assert await raw_db.fetchval("SELECT COUNT(*) FROM shared_bounce") == 0


@SHARING
async def test_the_share_stays_while_a_hard_bounce_of_the_address_remains(
        client, admin_headers, headers_b):
    await postmark(client, "Bounce", "HardBounce", BOUNCED)
    topic = await client.post("/v1/topics", headers=admin_headers, json={
        "key": "news", "name": "News", "channels": ["email"], "legal_basis": "consent"})
    assert topic.status_code == 201, topic.text
    added = await client.post("/v1/suppressions", headers=admin_headers, json={
        "channel": "email", "reason": "hard_bounce", "addresses": [BOUNCED], "topic": "news"})
    assert added.status_code in (200, 201), added.text
    path = f"/v1/suppressions/email/{BOUNCED}"
    lifted = await client.delete(path, headers=admin_headers, params={"reason": "hard_bounce"})
    assert lifted.status_code == 200, lifted.text
    assert (await check(client, headers_b, BOUNCED))["reasons"] == ["undeliverable"]
    lifted = await client.delete(path, headers=admin_headers,
                                 params={"reason": "hard_bounce", "topic": "news"})
    assert lifted.status_code == 200, lifted.text
    assert (await check(client, headers_b, BOUNCED))["allowed"] is True


@SHARING
async def test_turned_off_later_the_rows_stay_and_are_not_read(
        client, settings, headers_b, raw_db):
    await postmark(client, "Bounce", "HardBounce", BOUNCED)
    assert (await check(client, headers_b, BOUNCED))["allowed"] is False
    # the operator restarts the service with the setting off
    off = create_app(settings.model_copy(update={"share_hard_bounces": False}))
    async with AsyncTestClient(app=off, base_url="https://prefs.example.com") as restarted:
        assert (await check(restarted, headers_b, BOUNCED))["allowed"] is True
        assert (await bulk(restarted, headers_b, BOUNCED))["blocked"] == []
    assert await raw_db.fetchval("SELECT COUNT(*) FROM shared_bounce") == 1


def test_no_tenant_can_turn_sharing_on_for_itself():
    with pytest.raises(ValidationError):
        TenantSettings(share_hard_bounces=True)


@SHARING
async def test_a_tenants_own_esp_shares_its_hard_bounces_with_the_others(
        client, admin_headers, headers_b, tenant_b, raw_db):
    """B's Postmark account posts to B's URL (its own secret): B's hard bounce is B's claim,
    and the default tenant reads it as `undeliverable`; B's complaint stays B's."""
    b_url, b_auth = f"/v1/webhooks/postmark/{tenant_b.slug}", basic(*B_POSTMARK)
    await postmark(client, "Bounce", "HardBounce", BOUNCED, b_url, b_auth)
    await postmark(client, "SpamComplaint", "SpamComplaint", COMPLAINED, b_url, b_auth)
    assert (await check(client, headers_b, BOUNCED))["reasons"] == ["hard_bounce"]
    assert (await check(client, admin_headers, BOUNCED))["reasons"] == ["undeliverable"]
    assert (await check(client, admin_headers, COMPLAINED))["allowed"] is True
    rows = await raw_db.fetch("SELECT tenant_id FROM shared_bounce")
    assert [r["tenant_id"] for r in rows] == [tenant_b.id]
