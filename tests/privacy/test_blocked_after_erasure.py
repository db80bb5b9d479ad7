"""After erasure the address stays blocked wherever it comes back: the single and bulk checks,
an API add, an import; only a new double opt-in, confirmed by the person, lets it back in."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from urllib.parse import quote

from tests.conftest import ROOT
from tests.privacy.conftest import EMAIL, PHONE, csrf_post


async def _erase(client, person, make_key) -> None:
    response = await client.delete(f"/v1/contacts/{person.contact_id}",
                                   headers=await make_key("contacts:write"))
    assert response.status_code == 200, response.text


async def _check(client, headers, channel: str, address: str, topic: str | None = None) -> dict:
    url = f"/v1/suppressions/check?channel={channel}&address={quote(address)}"
    response = await client.get(url + (f"&topic={topic}" if topic else ""), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_single_and_bulk_checks_block_the_erased_addresses(client, person, make_key):
    reader = await make_key("suppressions:read")
    await _erase(client, person, make_key)
    for topic in (None, "newsletter", "account"):
        answer = await _check(client, reader, "email", EMAIL, topic)
        assert answer["allowed"] is False and "erased" in answer["reasons"]
    assert "erased" in (await _check(client, reader, "sms", PHONE, "account"))["reasons"]
    bulk = await client.post("/v1/suppressions/check", headers=reader, json={
        "channel": "email", "topic": "newsletter",
        "addresses": [EMAIL, person.email.lower(), "someone.else@example.com"]})
    assert bulk.status_code == 200, bulk.text
    body = bulk.json()
    assert body["checked"] == 3 and body["invalid"] == []
    blocked = {b["address"]: b["reasons"] for b in body["blocked"]}
    assert "erased" in blocked[EMAIL] and "erased" in blocked[person.email.lower()]
    assert "erased" not in blocked.get("someone.else@example.com", [])


async def test_adding_again_by_api_keeps_it_erased_and_erased_cannot_be_lifted(client, person,
                                                                             make_key):
    await _erase(client, person, make_key)
    writer = await make_key("suppressions:write", "suppressions:read")
    added = await client.post("/v1/suppressions", headers=writer, json={
        "channel": "email", "reason": "unsubscribed", "source": "crm", "addresses": [EMAIL]})
    assert added.status_code == 200, added.text
    assert added.json()["added"] == 1
    lift = await client.delete(f"/v1/suppressions/email/{quote(EMAIL)}?reason=erased",
                               headers=writer)
    assert lift.status_code == 409
    assert "erased" in (await _check(client, writer, "email", EMAIL, "account"))["reasons"]


async def test_an_import_carrying_the_address_finds_it_suppressed(client, person, make_key,
                                                                  settings, tmp_path):
    await _erase(client, person, make_key)
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("channel,address,topic,status\n"
                        f"email,{EMAIL},newsletter,opted_in\n")
    env = {**os.environ, "DATABASE_URL": settings.database_url, "DATA_DIR": str(tmp_path),
           "ENVIRONMENT": "test", "SECRET_KEYS": settings.secret_keys[0],
           "HASH_KEY": settings.hash_key}
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "service", "import", "contacts", str(csv_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = await _check(client, await make_key("suppressions:read"), "email", EMAIL,
                          "newsletter")
    assert answer["allowed"] is False and "erased" in answer["reasons"]


async def test_only_a_confirmed_double_opt_in_lets_the_address_back(client, db, person,
                                                                    make_key):
    await _erase(client, person, make_key)
    reader = await make_key("suppressions:read")
    signup = await client.post("/v1/subscriptions", headers=await make_key("contacts:write"),
                               json={"channel": "email", "address": EMAIL,
                                     "topics": ["newsletter"], "wording_version": "signup-v1"})
    assert signup.status_code == 202, signup.text
    # signing up alone changes nothing: the person has not confirmed yet
    assert "erased" in (await _check(client, reader, "email", EMAIL, "newsletter"))["reasons"]
    rows = await db.fetch("SELECT payload FROM outbox WHERE kind = 'email' ORDER BY id")
    payloads = [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]
    [confirm] = [p for p in payloads if p["template"] == "confirm"]
    path = "/" + confirm["context"]["url"].split("/", 3)[3]
    confirmed = await csrf_post(client, path, path, {"topic": "newsletter"})
    assert confirmed.status_code == 200, confirmed.text
    answer = await _check(client, reader, "email", EMAIL, "newsletter")
    assert answer["allowed"] is True, answer["reasons"]
    # and the way back is on record
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE action = 'confirmed'"
                             " AND topic = 'newsletter' AND source = 'double_opt_in'"
                             " AND contact_id <> $1", person.contact_id) == 1
