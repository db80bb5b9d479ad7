"""Frequencies through the topics and preferences APIs, sends through POST /v1/sends, and the
checks that follow (single and bulk, with next_allowed_at), on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.sends.conftest import new_contact, set_prefs

SENDS = "/v1/sends"
CHECK = "/v1/suppressions/check"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def check(client, mailer, address, topic="newsletter") -> dict:
    response = await client.get(CHECK, headers=mailer, params={
        "channel": "email", "address": address, "topic": topic})
    assert response.status_code == 200, response.text
    return response.json()


async def test_topics_offer_frequencies_and_refuse_unknown_ones(client, admin_headers, topics):
    body = (await client.get("/v1/topics/newsletter", headers=admin_headers)).json()
    assert body["frequencies"] == ["immediate", "weekly", "monthly"]
    account = (await client.get("/v1/topics/account", headers=admin_headers)).json()
    assert account["frequencies"] == ["immediate"]  # the default
    bad = await client.post("/v1/topics", headers=admin_headers, json={
        "key": "digest", "name": "Digest", "channels": ["email"],
        "frequencies": ["weekly", "hourly"]})
    assert bad.status_code == 422 and "frequencies" in bad.text, bad.text
    changed = await client.patch("/v1/topics/offers", headers=admin_headers,
                                 json={"frequencies": ["immediate", "monthly"]})
    assert changed.status_code == 200 and changed.json()["frequencies"] == [
        "immediate", "monthly"]
    empty = await client.patch("/v1/topics/offers", headers=admin_headers,
                               json={"frequencies": []})
    assert empty.status_code == 422 and "frequencies" in empty.text


async def test_a_monthly_choice_blocks_a_second_send_inside_the_month(client, topics, mailer,
                                                                      crm):
    contact = await new_contact(client, crm, "ann@example.com")
    response = await set_prefs(client, crm, contact,
                               {"channel": "email", "topic": "newsletter",
                                "frequency": "monthly"})
    assert response.status_code == 200, response.text
    row = next(p for p in response.json()["preferences"] if p["topic"] == "newsletter")
    assert row["frequency"] == "monthly" and row["status"] == "none"
    assert (await check(client, mailer, "ann@example.com"))["allowed"] is True
    sent_at = datetime.now(UTC) - timedelta(days=3)
    recorded = await client.post(SENDS, headers=mailer, json={
        "channel": "email", "topic": "newsletter", "campaign": "2026-12",
        "sent_at": sent_at.isoformat(), "addresses": ["Ann@Example.com", "bob@example.com"]})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json() == {"recorded": 2, "invalid": []}
    body = await check(client, mailer, "ann@example.com")
    assert body["allowed"] is False and body["reasons"] == ["frequency"]
    assert abs(_at(body["next_allowed_at"]) - (sent_at + timedelta(days=30))) < timedelta(
        seconds=1)
    # Bob chose nothing: his send is kept but never limits him
    assert (await check(client, mailer, "bob@example.com"))["allowed"] is True
    # other topics and the channel as a whole are not limited by a topic's frequency
    assert (await check(client, mailer, "ann@example.com", "offers"))["allowed"] is True
    bulk = await client.post(CHECK, headers=mailer, json={
        "channel": "email", "topic": "newsletter",
        "addresses": ["ann@example.com", "bob@example.com"]})
    assert bulk.json()["blocked"] == [{"address": "ann@example.com", "reasons": ["frequency"],
                                       "next_allowed_at": body["next_allowed_at"]}]
    events = (await client.get(f"/v1/contacts/{contact}/events", headers=crm)).json()["events"]
    assert events[0]["action"] == "frequency"
    assert events[0]["detail"] == {"frequency": "monthly"}


async def test_a_weekly_cap_on_the_channel_through_the_api(client, topics, mailer, crm):
    contact = await new_contact(client, crm, "cat@example.com")
    response = await set_prefs(client, crm, contact,
                               {"channel": "email", "topic": None, "max_per_week": 2})
    assert response.status_code == 200, response.text
    first = datetime.now(UTC) - timedelta(days=2)
    for topic, when in (("newsletter", first), ("offers", first + timedelta(hours=5))):
        ok = await client.post(SENDS, headers=mailer, json={
            "channel": "email", "topic": topic, "sent_at": when.isoformat(),
            "addresses": ["cat@example.com"]})
        assert ok.json()["recorded"] == 1
    for topic in ("newsletter", "offers", ""):
        body = await check(client, mailer, "cat@example.com", topic)
        assert body["reasons"] == ["frequency"], (topic, body)
        assert abs(_at(body["next_allowed_at"]) - (first + timedelta(days=7))) < timedelta(
            seconds=1)
    assert (await check(client, mailer, "cat@example.com", "account"))["allowed"] is True
    cleared = await set_prefs(client, crm, contact,
                              {"channel": "email", "topic": None, "max_per_week": None})
    assert cleared.status_code == 200 and cleared.json()["changed"] == 1
    assert (await check(client, mailer, "cat@example.com"))["allowed"] is True


async def test_transactional_sends_are_not_kept(client, topics, mailer, db):
    response = await client.post(SENDS, headers=mailer, json={
        "channel": "email", "topic": "account", "addresses": ["ann@example.com"]})
    assert response.json() == {"recorded": 0, "invalid": []}
    assert await db.fetchval("SELECT COUNT(*) FROM send_log") == 0


async def test_sends_are_keyed_never_kept_in_plain_and_invalid_ones_listed(
        client, rt, topics, mailer, db):
    key = rt.parse_address("email", "dan@example.com")[1]
    response = await client.post(SENDS, headers=mailer, json={
        "channel": "email", "topic": "offers",
        "addresses": ["dan@example.com", key, "not an address", "eve@example.com"]})
    body = response.json()
    assert body["recorded"] == 2  # dan twice (address and key) is one send
    assert [i["address"] for i in body["invalid"]] == ["not an address"]
    rows = await db.fetch("SELECT address_key, topic FROM send_log ORDER BY address_key")
    assert key in {r["address_key"] for r in rows} and len(rows) == 2
    assert not any("@" in r["address_key"] for r in rows)


@pytest.mark.parametrize(("body", "field"), [
    ({"topic": "newsletter", "addresses": []}, "channel"),
    ({"channel": "email", "addresses": []}, "topic"),
    ({"channel": "email", "topic": "newsletter"}, "addresses"),
    ({"channel": "fax", "topic": "newsletter", "addresses": []}, "channel"),
    ({"channel": "email", "topic": "nope", "addresses": []}, "topic"),
    ({"channel": "sms", "topic": "offers", "addresses": []}, "topic"),
    ({"channel": "email", "topic": "offers", "addresses": [],
      "sent_at": "2026-12-07T10:00:00"}, "sent_at"),  # no time zone
    ({"channel": "email", "topic": "offers", "addresses": [], "sent_at": "yesterday"},
     "sent_at"),
    ({"channel": "email", "topic": "offers", "addresses": [], "campaign": "x" * 201},
     "campaign"),
    ({"channel": "email", "topic": "offers", "addresses": [], "extra": 1}, "extra"),
])
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
        client, topics, mailer, db, body, field):
    response = await client.post(SENDS, headers=mailer, json=body)
    assert response.status_code == 422, response.text
    assert field in str(response.json()["errors"]), response.text
    assert await db.fetchval("SELECT COUNT(*) FROM send_log") == 0


@pytest.mark.parametrize(("shift", "ok"), [
    (timedelta(minutes=4), True), (timedelta(minutes=10), False),
    (-timedelta(days=29), True), (-timedelta(days=30, seconds=1), False)])
async def test_sent_at_may_be_in_the_past_up_to_the_longest_window(client, topics, mailer,
                                                                   shift, ok):
    response = await client.post(SENDS, headers=mailer, json={
        "channel": "email", "topic": "offers",
        "sent_at": (datetime.now(UTC) + shift).isoformat(), "addresses": ["ann@example.com"]})
    assert response.status_code == (200 if ok else 422), response.text
    if not ok:
        assert response.json()["errors"][0]["field"] == "sent_at"


async def test_too_many_addresses_is_413(client, topics, mailer, rt, monkeypatch):
    monkeypatch.setattr(rt.settings, "bulk_max_items", 3)
    response = await client.post(SENDS, headers=mailer, json={
        "channel": "email", "topic": "offers", "addresses": ["a@example.com"] * 4})
    assert response.status_code == 413 and "addresses" in response.text


async def test_sends_need_a_key_with_the_check_scope(client, topics, make_key):
    crm_only = await make_key("contacts:write")
    response = await client.post(SENDS, headers=crm_only, json={
        "channel": "email", "topic": "offers", "addresses": ["ann@example.com"]})
    assert response.status_code == 403


@pytest.mark.parametrize(("item", "field"), [
    ({"channel": "email", "topic": "newsletter", "frequency": "daily"}, "frequency"),
    ({"channel": "email", "topic": "newsletter", "frequency": "hourly"}, "frequency"),
    ({"channel": "email", "topic": "newsletter", "frequency": None}, "frequency"),
    ({"channel": "email", "topic": None, "frequency": "weekly"}, "frequency"),
    ({"channel": "email", "topic": "newsletter", "max_per_week": 2}, "max_per_week"),
    ({"channel": "email", "topic": None, "max_per_week": 0}, "max_per_week"),
    ({"channel": "email", "topic": None, "max_per_week": "2"}, "max_per_week"),
    ({"channel": "email", "topic": None, "max_per_week": 2.5}, "max_per_week"),
    ({"channel": "email", "topic": None, "max_per_week": True}, "max_per_week"),
    ({"channel": "email", "topic": None, "max_per_week": 101}, "max_per_week"),
])
async def test_bad_pace_items_are_422_naming_the_field(client, topics, crm, db, item, field):
    contact = await new_contact(client, crm, "fay@example.com")
    response = await set_prefs(client, crm, contact, item)
    assert response.status_code == 422, response.text
    assert field in str(response.json()["errors"]), response.text
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE action = 'frequency'") \
        == 0
