"""Recorded sends are their tenant's (issue 18): another tenant's sends to the same address
never count towards a person's frequency here, on both engines. send_log has no unique, so
both tenants record the very same address key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.consent.decision import lookup_state
from service.db.tenant_db import TenantDb
from service.sends.logic import write_sends
from tests.sends.conftest import new_contact, set_prefs

CHECK = "/v1/suppressions/check"


async def newsletter(client, mailer) -> dict:
    response = await client.get(CHECK, headers=mailer, params={
        "channel": "email", "address": "ann@example.com", "topic": "newsletter"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_another_tenants_sends_do_not_count(client, rt, db, raw_db, topics, mailer, crm):
    contact = await new_contact(client, crm, "ann@example.com")
    response = await set_prefs(client, crm, contact, {
        "channel": "email", "topic": "newsletter", "frequency": "weekly"})
    assert response.status_code == 200, response.text
    key = rt.parse_address("email", "ann@example.com")[1]
    other = TenantDb(raw_db, 2)
    sent_at = datetime.now(UTC) - timedelta(days=1)
    await write_sends(other, "email", "newsletter", sent_at, "theirs", [key])
    assert (await newsletter(client, mailer))["allowed"] is True
    recorded = await client.post("/v1/sends", headers=mailer, json={
        "channel": "email", "topic": "newsletter", "addresses": ["ann@example.com"],
        "sent_at": (sent_at - timedelta(days=2)).isoformat()})
    assert recorded.json()["recorded"] == 1, recorded.text
    answer = await newsletter(client, mailer)
    assert answer["reasons"] == ["frequency"]
    # the week runs from this tenant's own send, not the other tenant's later one
    assert datetime.fromisoformat(answer["next_allowed_at"].replace("Z", "+00:00")) == (
        sent_at - timedelta(days=2) + timedelta(days=7))
    rows = await raw_db.fetch("SELECT tenant_id, campaign FROM send_log ORDER BY tenant_id")
    assert [tuple(r) for r in rows] == [(1, None), (2, "theirs")]
    # tenant 2 knows nothing of tenant 1's person: no preference, so its sends are not read
    assert not (await lookup_state(other, "email", key)).paced
    assert (await lookup_state(db, "email", key)).paced
