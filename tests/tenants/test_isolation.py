"""Two tenants side by side, end to end over HTTP (issue 18's "Done when"): the same topic key,
contact reference and address in both; A's one-click leaves B's check allowed; B's links carry
B's tenant and B's pages show B's brand only; another tenant's ids answer 404 like unknown
ones; each feed holds only its tenant's changes."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from tests.unsubscribe import test_inbound
from tests.unsubscribe.helpers import GMAIL_HEADERS, ONE_CLICK_BODY
from tests.unsubscribe.test_inbound import message, send

CHECK = "/v1/suppressions/check"
listener = test_inbound.listener  # the real SMTP listener, on a free port
ADDRESS = "ann@example.com"


async def _same_records(client, headers) -> tuple[str, dict]:
    """The topic `news` (allowed until objected to) and the contact `crm-1` with ADDRESS;
    (contact id, its links)."""
    topic = await client.post("/v1/topics", headers=headers,
                              json={"key": "news", "name": "News", "channels": ["email"],
                                    "legal_basis": "legitimate_interest"})
    assert topic.status_code == 201, topic.text
    contact = await client.post("/v1/contacts", headers=headers, json={
        "external_ref": "crm-1", "addresses": [{"channel": "email", "address": ADDRESS}]})
    assert contact.status_code == 201, contact.text
    links = await client.post("/v1/links", headers=headers, json={"recipients": [
        {"channel": "email", "address": ADDRESS, "topic": "news"}]})
    assert links.status_code == 200, links.text
    return contact.json()["id"], links.json()["links"][0]


async def _allowed(client, headers) -> bool:
    response = await client.get(CHECK, headers=headers,
                                params={"channel": "email", "address": ADDRESS, "topic": "news"})
    assert response.status_code == 200, response.text
    return response.json()["allowed"]


async def test_two_tenants_with_the_same_people_never_see_each_other(
        client, admin_headers, headers_b, tenant_b):
    a_id, a_link = await _same_records(client, admin_headers)
    b_id, b_link = await _same_records(client, headers_b)
    assert a_id != b_id
    a_token = urlsplit(a_link["unsubscribe_url"]).path.rsplit("/", 1)[1]
    b_token = urlsplit(b_link["unsubscribe_url"]).path.rsplit("/", 1)[1]
    assert "~" not in a_token and b_token.startswith(f"t{tenant_b.id}~")

    # A's one-click: A's check blocks, B's stays allowed
    client.cookies.clear()
    done = await client.post(f"/u/{a_token}", content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    assert done.status_code == 200, done.text
    assert await _allowed(client, admin_headers) is False
    assert await _allowed(client, headers_b) is True

    # each feed carries its own tenant's changes only
    a_feed = (await client.get("/v1/suppressions", headers=admin_headers)).json()["entries"]
    b_feed = (await client.get("/v1/suppressions", headers=headers_b)).json()["entries"]
    assert len(a_feed) >= 1 and b_feed == []

    # another tenant's ids answer 404, exactly as an unknown id
    unknown = await client.get("/v1/contacts/00000000-0000-4000-8000-000000000000",
                               headers=headers_b)
    foreign = await client.get(f"/v1/contacts/{a_id}", headers=headers_b)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    assert (await client.get(f"/v1/contacts/{b_id}", headers=headers_b)).status_code == 200

    # B's link opens B's preference page, with B's brand and not the default one
    page = await client.get(urlsplit(b_link["preferences_url"]).path)
    assert page.status_code == 200 and "Brand B" in page.text
    a_page = await client.get(urlsplit(a_link["preferences_url"]).path)
    assert a_page.status_code == 200 and "Brand B" not in a_page.text

    # B's one-click now: B blocks too, through B's own token
    done = await client.post(f"/u/{b_token}", content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    assert done.status_code == 200, done.text
    assert await _allowed(client, headers_b) is False


async def test_a_token_moved_to_another_tenant_is_an_invalid_link(
        client, admin_headers, headers_b, tenant_b):
    _, b_link = await _same_records(client, headers_b)
    b_token = urlsplit(b_link["unsubscribe_url"]).path.rsplit("/", 1)[1]
    for forged in (b_token.split("~", 1)[1],                 # B's token without its prefix
                   "t999~" + b_token.split("~", 1)[1]):      # naming a tenant that is not
        response = await client.get(f"/u/{forged}")
        assert response.status_code == 400, forged
    assert await _allowed(client, headers_b) is True


async def test_a_tenants_mailto_unsubscribe_acts_in_that_tenant(
        client, admin_headers, headers_b, tenant_b, listener):
    await _same_records(client, admin_headers)
    _, b_link = await _same_records(client, headers_b)
    mailto = urlsplit(b_link["headers"]["List-Unsubscribe"].split(", ")[1].strip("<>"))
    to, subject = mailto.path, unquote(mailto.query).removeprefix("subject=")
    assert f"+t{tenant_b.id}~" in to
    errors, reply = await send(listener, message(to, subject))
    assert errors == {} and reply.startswith("2.0.0 Unsubscribed")
    assert await _allowed(client, headers_b) is False
    assert await _allowed(client, admin_headers) is True


async def test_a_tenants_suppressions_and_their_ledger_events_stay_in_it(
        client, admin_headers, headers_b, tenant_b, raw_db):
    await _same_records(client, admin_headers)
    await _same_records(client, headers_b)
    added = await client.post("/v1/suppressions", headers=headers_b, json={
        "channel": "email", "reason": "manual", "addresses": [ADDRESS]})
    assert added.status_code in (200, 201), added.text
    assert await _allowed(client, headers_b) is False
    assert await _allowed(client, admin_headers) is True
    # the sealed "suppressed" event is in B's ledger (PostgreSQL writes it by COPY)
    rows = await raw_db.fetch("SELECT tenant_id FROM consent_event WHERE action = 'suppressed'")
    assert [r[0] for r in rows] == [tenant_b.id]
    rows = await raw_db.fetch("SELECT tenant_id FROM suppression WHERE reason = 'manual'")
    assert [r[0] for r in rows] == [tenant_b.id]
