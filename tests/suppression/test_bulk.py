"""The bulk check gives the single check's answers, as JSON and as a streamed NDJSON answer."""

from __future__ import annotations

import json
import random

import pytest

from service.suppression import bulk, stream

CHECK = "/v1/suppressions/check"
REASONS = ["hard_bounce", "invalid", "erased", "complaint", "unsubscribed", "manual",
           "external_list"]
INVALID = ["", "not an address", "ann@", "@example.com", "a@b", "x" * 1200, "ann@example.test"]


async def build_mix(world, rng: random.Random, n: int) -> list[str]:
    """n addresses: unknown, invalid, suppressed, opted in/out, paused, restricted, and keys."""
    addresses: list[str] = []
    for i in range(n):
        address = f"user{i}@example{i % 7}.com"
        kind = rng.choice(["plain", "plain", "invalid", "suppressed", "topic_sup", "opt_in",
                           "opt_out", "channel_out", "paused", "restricted", "key", "upper"])
        if kind == "invalid":
            addresses.append(rng.choice(INVALID))
            continue
        if kind in ("suppressed", "key"):  # one to three reasons
            for reason in rng.sample(REASONS, rng.randint(1, 3)):
                await world.suppress(address, reason)
        elif kind == "topic_sup":
            await world.suppress(address, "unsubscribed", topic=rng.choice(["newsletter",
                                                                            "offers"]))
        elif kind in ("opt_in", "opt_out", "channel_out", "paused", "restricted"):
            contact = await world.contact(address)
            topic = rng.choice(["newsletter", "offers"])
            if kind == "opt_in":
                await world.prefer(contact, "opt_in", topic)
            elif kind == "opt_out":
                await world.prefer(contact, "opt_out", topic)
            elif kind == "channel_out":
                await world.prefer(contact, "opt_out")
            elif kind == "paused":
                await world.prefer(contact, "paused", topic, paused_days=5)
            else:
                await world.restrict(contact)
        if kind == "key":
            addresses.append(world.key("email", address))
        elif kind == "upper":
            addresses.append(address.upper())
        else:
            addresses.append(address)
    addresses += addresses[:5]  # duplicates are answered each time
    return addresses


async def single(client, headers, address, topic):
    params = {"channel": "email", "address": address}
    if topic:
        params["topic"] = topic
    response = await client.get(CHECK, params=params, headers=headers)
    if response.status_code == 422:
        return ("invalid",)
    assert response.status_code == 200, response.text
    return ("blocked", tuple(response.json()["reasons"])) if not response.json()["allowed"] \
        else ("allowed",)


async def test_bulk_equals_single_on_a_random_mix(client, world, reader, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 37)  # several chunks, parsed a slice at a time
    monkeypatch.setattr(bulk, "PARSE_SLICE", 10)
    rng = random.Random(20261122)
    addresses = await build_mix(world, rng, 120)
    for topic in (None, "newsletter", "offers", "account"):
        response = await client.post(CHECK, headers=reader, json={
            "channel": "email", "topic": topic, "addresses": addresses})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["checked"] == len(addresses)
        blocked = {item["address"]: ("blocked", tuple(item["reasons"]))
                   for item in body["blocked"]}
        invalid = {item["address"] for item in body["invalid"]}
        assert all(item["error"] for item in body["invalid"])
        for address in addresses:
            got = ("invalid",) if address in invalid else blocked.get(address, ("allowed",))
            assert got == await single(client, reader, address, topic), (address, topic)


async def test_streamed_lines_equal_the_json_answer(client, world, reader, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 25)
    rng = random.Random(7)
    addresses = [a for a in await build_mix(world, rng, 60) if a.strip() and "\n" not in a]
    expected = (await client.post(CHECK, headers=reader, json={
        "channel": "email", "topic": "offers", "addresses": addresses})).json()
    body = ("\r\n".join(addresses) + "\n\n").encode()
    response = await client.post(f"{CHECK}?channel=email&topic=offers", headers={
        **reader, "Content-Type": "text/plain; charset=utf-8"}, content=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    summary = lines.pop()
    assert summary == {"checked": len(addresses), "blocked": len(expected["blocked"]),
                       "invalid": len(expected["invalid"])}
    assert [(x["address"], x["reasons"]) for x in lines if "reasons" in x] == [
        (x["address"], x["reasons"]) for x in expected["blocked"]]
    assert [(x["address"], x["error"]) for x in lines if "error" in x] == [
        (x["address"], x["error"]) for x in expected["invalid"]]
    for item in lines:  # line numbers point into the request body
        assert addresses[item["line"] - 1] == item["address"]


async def test_ndjson_stream_reports_bad_lines_and_every_line_on_request(client, world, reader):
    await world.suppress("bob@example.com", "complaint")
    body = b'"ann@example.com"\n{"address": 1}\n"bob@example.com"\nnot json\n"nope"\n'
    response = await client.post(f"{CHECK}?channel=email&all=true", content=body,
                                 headers={**reader, "Content-Type": "application/x-ndjson"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == [
        {"line": 1, "address": "ann@example.com", "allowed": True, "reasons": []},
        {"line": 2, "address": '{"address": 1}', "allowed": False,
         "error": "line is not a JSON string"},
        {"line": 3, "address": "bob@example.com", "allowed": False, "reasons": ["complaint"]},
        {"line": 4, "address": "not json", "allowed": False, "error": "line is not valid JSON"},
        {"line": 5, "address": "nope", "allowed": False, "error": lines[4]["error"]},
        {"checked": 5, "blocked": 1, "invalid": 3},
    ]
    assert "not a valid email address" in lines[4]["error"]


async def test_an_overlong_line_is_reported_and_the_rest_checked(client, world, reader,
                                                                 monkeypatch):
    monkeypatch.setattr(stream, "MAX_LINE", 64)
    body = b"ann@example.com\n" + b"x" * 500 + b"\nbob@example.com"
    response = await client.post(f"{CHECK}?channel=email", content=body,
                                 headers={**reader, "Content-Type": "text/plain"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[0]["line"] == 2 and "longer than 64 bytes" in lines[0]["error"]
    assert lines[-1] == {"checked": 3, "blocked": 0, "invalid": 1}


async def test_too_many_addresses_is_413_before_any_work(client, world, reader, database_url,
                                                         tmp_path, db):
    from litestar.testing import AsyncTestClient

    from service.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, tmp_path, bulk_max_items=3))
    async with AsyncTestClient(app=app) as small:
        ok = await small.post(CHECK, headers=reader, json={
            "channel": "email", "addresses": ["a@example.com"] * 3})
        assert ok.status_code == 200
        over = await small.post(CHECK, headers=reader, json={
            "channel": "email", "addresses": ["a@example.com"] * 4})
        assert over.status_code == 413
        assert over.json()["errors"][0]["field"] == "addresses"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"channel": "email"}, 422, "addresses"),
    ({"channel": "pigeon", "addresses": []}, 422, "channel"),
    ({"channel": "email", "addresses": ["a@example.com", 5]}, 422, "addresses[1]"),
    ({"channel": "email", "topic": "nope", "addresses": []}, 422, "topic"),
    ({"channel": "phone", "topic": "newsletter", "addresses": []}, 422, "topic"),
])
async def test_bad_bulk_requests_are_4xx_naming_the_field(client, world, reader, body, status,
                                                          field):
    response = await client.post(CHECK, headers=reader, json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_other_bad_bodies(client, world, reader):
    broken = await client.post(CHECK, headers={**reader, "Content-Type": "application/json"},
                               content=b"{not json")
    assert broken.status_code == 400
    assert broken.json()["detail"]
    xml = await client.post(CHECK, headers={**reader, "Content-Type": "application/xml"},
                            content=b"<a/>")
    assert xml.status_code == 415
    no_channel = await client.post(CHECK, headers={**reader, "Content-Type": "text/plain"},
                                   content=b"ann@example.com\n")
    assert no_channel.status_code == 422
    assert no_channel.json()["errors"][0]["field"] == "query.channel"


async def test_an_empty_list_checks_nothing(client, world, reader):
    response = await client.post(CHECK, headers=reader, json={"channel": "email",
                                                               "addresses": []})
    assert response.json() == {"checked": 0, "blocked": [], "invalid": []}
