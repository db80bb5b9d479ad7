"""One way in for addresses per input kind: a `+` sent unencoded in a query string arrives as a
space and is read back as `+`; in JSON bodies, CSV files and paths a space is a space, and an
address with one is invalid, in the single and the bulk check alike (never "allowed")."""

from __future__ import annotations

import json

from tests.suppression.test_import_export import run

CHECK = "/v1/suppressions/check"
SPACED = "sp ace@x.example"


async def test_the_query_string_repairs_an_unencoded_plus(client, world, reader):
    await world.suppress("sp+ace@x.example", "unsubscribed")
    raw = await client.get(f"{CHECK}?channel=email&address=sp+ace@x.example", headers=reader)
    assert raw.status_code == 200, raw.text
    assert raw.json()["reasons"] == ["unsubscribed"]
    encoded = await client.get(CHECK, params={"channel": "email", "address": "sp+ace@x.example"},
                               headers=reader)
    assert encoded.json()["reasons"] == ["unsubscribed"]


async def test_the_json_bulk_check_lists_a_spaced_address_as_invalid(client, world, reader):
    await world.suppress("sp+ace@x.example", "unsubscribed")
    response = await client.post(CHECK, headers=reader, json={
        "channel": "email", "addresses": [SPACED, "sp+ace@x.example", "ann@example.com"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checked"] == 3
    assert [item["address"] for item in body["invalid"]] == [SPACED]
    assert body["invalid"][0]["error"]
    assert body["blocked"] == [{"address": "sp+ace@x.example", "reasons": ["unsubscribed"]}]


async def test_the_streamed_bulk_check_reports_a_spaced_address_invalid(client, world, reader):
    response = await client.post(f"{CHECK}?channel=email&all=true", headers={
        **reader, "content-type": "text/plain"}, content=f"{SPACED}\nann@example.com\n")
    assert response.status_code == 200, response.text
    lines = [line for line in response.text.splitlines() if line]
    first = json.loads(lines[0])
    assert first["address"] == SPACED and first["allowed"] is False and first["error"]


async def test_adding_and_lifting_refuse_a_spaced_address(client, world, make_key, db):
    writer = await make_key("suppressions:read", "suppressions:write")
    added = await client.post("/v1/suppressions", headers=writer, json={
        "channel": "email", "reason": "manual", "addresses": ["ann@example.com", SPACED]})
    assert added.status_code == 422, added.text
    assert [e["field"] for e in added.json()["errors"]] == ["addresses[1]"]
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 0
    lifted = await client.delete(f"/v1/suppressions/email/{SPACED}",
                                 params={"reason": "manual"}, headers=writer)
    assert lifted.status_code == 422, lifted.text
    assert lifted.json()["errors"][0]["field"] == "address"


async def test_a_csv_import_rejects_a_spaced_address(world, settings, db, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(f"email\n{SPACED}\nann@example.com\n")
    result = run(settings, "import", "suppressions", str(path), "--channel", "email",
                 "--reason", "unsubscribed", "--source", "crm-export")
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert "row 2:" in err and "added 1, already 0, rejected 1" in err
    keys = {r["address_key"] for r in await db.fetch("SELECT address_key FROM suppression")}
    assert keys == {world.key("email", "ann@example.com")}
