"""POST /v1/links: headers and footer links per recipient, in order; unknown addresses become
contacts; bad input fails the whole request and writes nothing."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from tests.conftest import make_settings
from tests.unsubscribe.helpers import add_contact, add_topic, counts, path_of

pytestmark = pytest.mark.usefixtures("topics")


@pytest.fixture
async def topics(db):
    await add_topic(db, "newsletter", "Newsletter", channels=("email", "sms"))
    await add_topic(db, "receipts", "Receipts", transactional=True)


@pytest.fixture
async def headers(make_key):
    return await make_key("links:write")


async def test_links_shape_order_and_working_urls(client, db, rt, headers):
    known_id, _ = await add_contact(db, rt, "email", "known@example.com")
    recipients = [
        {"channel": "email", "address": "new@example.com", "topic": "newsletter",
         "campaign": "2026-11-spring"},
        {"channel": "email", "address": "Known@Example.COM", "topic": None},
        {"channel": "sms", "address": "+44 7911 123456", "topic": "newsletter"},
    ]
    response = await client.post("/v1/links", headers=headers, json={"recipients": recipients})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    result = response.json()["links"]
    assert [link["address"] for link in result] == [r["address"] for r in recipients]

    first = result[0]
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [part.strip().strip("<>") for part in
                     first["headers"]["List-Unsubscribe"].split(",")]
    assert https == first["unsubscribe_url"]
    assert https.startswith("https://prefs.example.com/u/")
    assert first["preferences_url"].startswith("https://prefs.example.com/p/")
    token = https.rsplit("/", 1)[1]
    parts = urlsplit(mailto)
    assert parts.scheme == "mailto"
    assert parts.path == f"unsubscribe+{token}@prefs.example.com"
    assert unquote(parts.query) == f"subject=unsubscribe {token}"

    # the token names the contact, channel, topic and campaign, never the address
    data = rt.signer.verify("unsubscribe", token)
    assert (data.channel, data.topic, data.campaign) == ("email", "newsletter", "2026-11-spring")
    assert "new@example.com" not in str(data)
    pref = rt.signer.verify("preferences", first["preferences_url"].rsplit("/", 1)[1])
    assert (pref.contact_id, pref.channel, pref.topic) == (data.contact_id, "email", "*")
    # the unknown address became a contact; the known one kept its contact
    new_contact = await db.fetchval("SELECT contact_id FROM address WHERE address_key = $1",
                                    rt.parse_address("email", "new@example.com")[1])
    assert data.contact_id == new_contact
    second = rt.signer.verify("unsubscribe", result[1]["unsubscribe_url"].rsplit("/", 1)[1])
    assert (second.contact_id, second.topic, second.campaign) == (known_id, "*", "")
    # not email: no message headers, links only
    assert result[2]["headers"] is None
    assert rt.signer.verify("unsubscribe", result[2]["unsubscribe_url"].rsplit("/", 1)[1]
                            ).channel == "sms"

    page = await client.get(path_of(first["unsubscribe_url"]))
    assert page.status_code == 200 and "Newsletter" in page.text


async def test_duplicates_and_repeats_reuse_one_contact(client, db, headers):
    body = {"recipients": [{"channel": "email", "address": "same@example.com"},
                           {"channel": "email", "address": "SAME@example.com"}]}
    first = await client.post("/v1/links", headers=headers, json=body)
    again = await client.post("/v1/links", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM address") == 1
    urls = {link["unsubscribe_url"] for r in (first, again) for link in r.json()["links"]}
    assert len(urls) == 1  # same contact, same payload: the same link every time


async def test_invalid_addresses_fail_the_whole_request(client, db, headers):
    before = await counts(db)
    response = await client.post("/v1/links", headers=headers, json={"recipients": [
        {"channel": "email", "address": "ok@example.com"},
        {"channel": "email", "address": "not-an-address"},
        {"channel": "email", "address": "ok2@example.com", "topic": "no-such-topic"},
        {"channel": "sms", "address": "12"},
        {"channel": "email", "address": "x@example.com", "topic": "receipts"},
    ]})
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["recipients[1].address", "recipients[2].topic",
                      "recipients[3].address", "recipients[4].topic"]
    assert "no-such-topic" in response.json()["errors"][1]["message"]
    assert "transactional" in response.json()["errors"][3]["message"]
    assert await counts(db) == before


async def test_schema_errors_are_422(client, headers):
    response = await client.post("/v1/links", headers=headers, json={"recipients": [
        {"channel": "pigeon", "address": "a@example.com"}]})
    assert response.status_code == 422
    assert (await client.post("/v1/links", headers=headers,
                              json={"recipients": []})).status_code == 422


async def test_nul_characters_are_a_422_on_both_engines(client, db, headers):
    before = await counts(db)
    for recipient in ({"channel": "post", "address": "1 High St\x00\nLondon\nSW1A 1AA"},
                      {"channel": "email", "address": "a@example.com", "campaign": "x\x00y"}):
        response = await client.post("/v1/links", headers=headers,
                                     json={"recipients": [recipient]})
        assert response.status_code == 422, response.text
    assert await counts(db) == before


async def test_needs_the_links_scope(client, make_key):
    body = {"recipients": [{"channel": "email", "address": "a@example.com"}]}
    assert (await client.post("/v1/links", json=body)).status_code == 401
    other = await make_key("contacts:read")
    assert (await client.post("/v1/links", headers=other, json=body)).status_code == 403


async def test_no_mailto_when_not_configured(database_url, tmp_path, db, make_key):
    app = create_app(make_settings(database_url, tmp_path, unsubscribe_mailto=""))
    headers = await make_key("links:write")
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        response = await client.post("/v1/links", headers=headers, json={
            "recipients": [{"channel": "email", "address": "a@example.com"}]})
    link = response.json()["links"][0]
    assert link["headers"]["List-Unsubscribe"] == f"<{link['unsubscribe_url']}>"


async def test_over_the_limit_is_refused_before_any_work(database_url, tmp_path, db, make_key):
    app = create_app(make_settings(database_url, tmp_path, bulk_max_items=3))
    headers = await make_key("links:write")
    before = await counts(db)
    body = {"recipients": [{"channel": "email", "address": f"u{i}@example.com"}
                           for i in range(4)]}
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        response = await client.post("/v1/links", headers=headers, json=body)
        assert response.status_code == 413
        assert response.json()["errors"][0]["field"] == "recipients"
        body["recipients"].pop()
        assert (await client.post("/v1/links", headers=headers, json=body)).status_code == 200
    assert (await counts(db))["contact"] == before["contact"] + 3


async def test_a_whole_campaign_of_100k(client, db, headers, settings):
    """The default limit: 100,000 recipients in one request work; one more is refused."""
    limit = settings.bulk_max_items
    assert limit == 100_000
    await add_contact(db, client.app.state.rt, "email", "u5@example.com")
    recipients = [{"channel": "email", "address": f"u{i}@example.com", "topic": "newsletter",
                   "campaign": "big"} for i in range(limit)]
    response = await client.post("/v1/links", headers=headers, json={"recipients": recipients})
    assert response.status_code == 200
    result = response.json()["links"]
    assert len(result) == limit
    assert result[12345]["address"] == "u12345@example.com"
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == limit
    recipients.append({"channel": "email", "address": "one-more@example.com"})
    response = await client.post("/v1/links", headers=headers, json={"recipients": recipients})
    assert response.status_code == 413
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == limit
