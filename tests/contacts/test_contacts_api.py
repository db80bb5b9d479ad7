"""Contacts API: upsert by external_ref or address, read, change addresses, scopes; a failed
request writes nothing."""

from __future__ import annotations

import pytest

ANN = {"external_ref": "crm-42", "addresses": [{"channel": "email", "address": "Ann@Example.com"}]}


async def count(db, table: str) -> int:
    return await db.fetchval(f"SELECT COUNT(*) FROM {table}")


async def test_create_answers_201_and_a_repeat_answers_200_with_the_same_contact(
        client, admin_headers, db):
    created = await client.post("/v1/contacts", headers=admin_headers, json=ANN)
    assert created.status_code == 201
    body = created.json()
    assert body["external_ref"] == "crm-42"
    assert body["addresses"] == [{"channel": "email", "address": "Ann@example.com",
                                  "given": "Ann@Example.com",
                                  "created_at": body["addresses"][0]["created_at"]}]
    assert "ann" not in body["id"].lower()  # opaque, never the address
    again = await client.post("/v1/contacts", headers=admin_headers, json=ANN)
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert await count(db, "contact") == 1


@pytest.mark.parametrize("spelling", [" ann@example.com ", "ANN@EXAMPLE.COM"])
async def test_matching_by_address_in_any_spelling(client, admin_headers, spelling):
    first = (await client.post("/v1/contacts", headers=admin_headers, json=ANN)).json()
    matched = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "email", "address": spelling},
                      {"channel": "sms", "address": "020 7946 0958"}]})
    assert matched.status_code == 200
    body = matched.json()
    assert body["id"] == first["id"]
    assert {(a["channel"], a["address"]) for a in body["addresses"]} == {
        ("email", "Ann@example.com"), ("sms", "+442079460958")}


async def test_unicode_and_idna_domains_are_one_address(client, admin_headers):
    first = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "email", "address": "foo@bücher.example"}]})
    second = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "email", "address": "foo@xn--bcher-kva.example"}]})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["addresses"][0]["address"] == "foo@xn--bcher-kva.example"


async def test_matching_by_address_adopts_the_external_ref(client, admin_headers):
    first = await client.post("/v1/contacts", headers=admin_headers,
                              json={"addresses": ANN["addresses"]})
    matched = await client.post("/v1/contacts", headers=admin_headers, json=ANN)
    assert matched.status_code == 200
    assert matched.json()["id"] == first.json()["id"]
    assert matched.json()["external_ref"] == "crm-42"


async def test_a_bad_second_address_is_422_naming_it_and_writes_nothing(
        client, admin_headers, db):
    response = await client.post("/v1/contacts", headers=admin_headers, json={
        "external_ref": "crm-7",
        "addresses": [{"channel": "email", "address": "ok@example.com"},
                      {"channel": "sms", "address": "not a number"}]})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "addresses[1].address"
    assert "phone number" in body["errors"][0]["message"]
    assert await count(db, "contact") == 0
    assert await count(db, "address") == 0


async def test_schema_errors_are_422_with_fields(client, admin_headers, db):
    response = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "pigeon", "address": "coo"}]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("addresses")
    empty = await client.post("/v1/contacts", headers=admin_headers, json={})
    assert empty.status_code == 422
    assert await count(db, "contact") == 0


async def test_an_address_of_another_contact_is_409_and_nothing_is_written(
        client, admin_headers, db):
    await client.post("/v1/contacts", headers=admin_headers, json=ANN)
    bob = {"external_ref": "crm-43",
           "addresses": [{"channel": "email", "address": "bob@example.com"}]}
    await client.post("/v1/contacts", headers=admin_headers, json=bob)
    clash = await client.post("/v1/contacts", headers=admin_headers, json={
        "external_ref": "crm-43",
        "addresses": [{"channel": "sms", "address": "+442079460958"},
                      {"channel": "email", "address": "ann@example.com"}]})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "addresses[1].address"
    assert await count(db, "address") == 2  # the sms number was not added
    # two addresses of two different contacts, no external_ref: ambiguous
    both = await client.post("/v1/contacts", headers=admin_headers, json={"addresses": [
        {"channel": "email", "address": "ann@example.com"},
        {"channel": "email", "address": "bob@example.com"}]})
    assert both.status_code == 409
    # an address whose contact has another external_ref
    other = await client.post("/v1/contacts", headers=admin_headers, json={
        "external_ref": "crm-99", "addresses": ANN["addresses"]})
    assert other.status_code == 409
    assert await count(db, "contact") == 2


async def test_read_and_find(client, admin_headers, make_key):
    reader = await make_key("contacts:read")
    contact = (await client.post("/v1/contacts", headers=admin_headers, json=ANN)).json()
    fetched = await client.get(f"/v1/contacts/{contact['id']}", headers=reader)
    assert fetched.status_code == 200 and fetched.json() == contact
    assert (await client.get("/v1/contacts/nope", headers=reader)).status_code == 404
    by_ref = await client.get("/v1/contacts?external_ref=crm-42", headers=reader)
    assert [c["id"] for c in by_ref.json()] == [contact["id"]]
    by_address = await client.get("/v1/contacts", headers=reader,
                                  params={"channel": "email", "address": " ANN@example.com"})
    assert [c["id"] for c in by_address.json()] == [contact["id"]]
    none = await client.get("/v1/contacts", headers=reader,
                            params={"channel": "email", "address": "zed@example.com"})
    assert none.json() == []
    bad = await client.get("/v1/contacts", headers=reader,
                           params={"channel": "email", "address": "zed"})
    assert bad.status_code == 422
    assert (await client.get("/v1/contacts", headers=reader)).status_code == 422


async def test_update_adds_and_removes_addresses(client, admin_headers, db):
    contact = (await client.post("/v1/contacts", headers=admin_headers, json=ANN)).json()
    url = f"/v1/contacts/{contact['id']}"
    updated = await client.patch(url, headers=admin_headers, json={
        "add_addresses": [{"channel": "email", "address": "ann.new@example.com"},
                          {"channel": "post", "address": "1 High St, Leeds, ls1 4ap"}],
        "remove_addresses": [{"channel": "email", "address": "ANN@example.com"}]})
    assert updated.status_code == 200
    assert {(a["channel"], a["address"]) for a in updated.json()["addresses"]} == {
        ("email", "ann.new@example.com"), ("post", "1 high st, leeds, LS14AP")}
    cleared = await client.patch(url, headers=admin_headers, json={"external_ref": None})
    assert cleared.json()["external_ref"] is None
    # the freed address can now go to someone else
    bob = await client.post("/v1/contacts", headers=admin_headers, json={
        "addresses": [{"channel": "email", "address": "ann@example.com"}]})
    assert bob.status_code == 201


async def test_update_refuses_an_address_of_another_contact_and_writes_nothing(
        client, admin_headers, db):
    ann = (await client.post("/v1/contacts", headers=admin_headers, json=ANN)).json()
    await client.post("/v1/contacts", headers=admin_headers, json={
        "external_ref": "crm-43", "addresses": [{"channel": "email", "address": "b@example.com"}]})
    response = await client.patch(f"/v1/contacts/{ann['id']}", headers=admin_headers, json={
        "remove_addresses": ANN["addresses"],
        "add_addresses": [{"channel": "email", "address": "B@example.com"}]})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "add_addresses[0].address"
    taken_ref = await client.patch(f"/v1/contacts/{ann['id']}", headers=admin_headers,
                                   json={"external_ref": "crm-43"})
    assert taken_ref.status_code == 409
    still = (await client.get(f"/v1/contacts/{ann['id']}", headers=admin_headers)).json()
    assert still == ann  # the removal was rolled back with the refused addition
    bad = await client.patch(f"/v1/contacts/{ann['id']}", headers=admin_headers, json={
        "add_addresses": [{"channel": "fax", "address": "x"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == \
        "add_addresses[0].address"
    missing = await client.patch("/v1/contacts/nope", headers=admin_headers, json={})
    assert missing.status_code == 404


async def test_contact_scopes(client, make_key):
    reader = await make_key("contacts:read")
    writer = await make_key("contacts:write")
    other = await make_key("suppressions:read", "suppressions:write", "links:write")
    assert (await client.post("/v1/contacts", json=ANN)).status_code == 401
    assert (await client.post("/v1/contacts", headers=reader, json=ANN)).status_code == 403
    assert (await client.post("/v1/contacts", headers=other, json=ANN)).status_code == 403
    created = await client.post("/v1/contacts", headers=writer, json=ANN)
    assert created.status_code == 201
    url = f"/v1/contacts/{created.json()['id']}"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=other)).status_code == 403
    assert (await client.get(url, headers=reader)).status_code == 200
    assert (await client.get("/v1/contacts?external_ref=crm-42")).status_code == 401
    assert (await client.get("/v1/contacts?external_ref=crm-42", headers=other)).status_code \
        == 403
    assert (await client.patch(url, json={})).status_code == 401
    assert (await client.patch(url, headers=reader, json={})).status_code == 403
    assert (await client.patch(url, headers=writer, json={})).status_code == 200


async def test_input_postgresql_cannot_store_is_422_or_404_never_500(client, admin_headers, db):
    h = admin_headers
    for body in ({"external_ref": "a\x00b"},
                 {"addresses": [{"channel": "post", "address": "1 High St\x00, Leeds"}]}):
        response = await client.post("/v1/contacts", headers=h, json=body)
        assert response.status_code == 422
    topic = await client.post("/v1/topics", headers=h,
                              json={"key": "k", "name": "a\x00", "channels": ["email"]})
    assert topic.status_code == 422
    for url in ("/v1/contacts/a%00b", "/v1/contacts/a%00b/preferences",
                "/v1/contacts/a%00b/events", "/v1/topics/a%00", "/v1/contacts/" + "x" * 300):
        assert (await client.get(url, headers=h)).status_code == 404
    found = await client.get("/v1/contacts?external_ref=a%00", headers=h)
    assert found.status_code == 422 and found.json()["errors"][0]["field"] == "query"
    assert await db.fetchval("SELECT COUNT(*) FROM contact") == 0
