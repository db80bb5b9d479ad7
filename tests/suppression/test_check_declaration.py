"""The check routes read their own input (the hot path), and their OpenAPI operations are built
from the declarations the parsers read. These tests hold the served schema against the served
parser: every documented parameter and enum value is accepted, every missing required one and
every value outside an enum is refused with a 422 naming it, and nothing else is read."""

from __future__ import annotations

import pytest

CHECK = "/v1/suppressions/check"
VALID = {"channel": "email", "address": "ann@example.com", "topic": "offers"}


def _enum(schema: dict) -> list | None:
    for option in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]:
        if "enum" in option:
            return option["enum"]
    return None


@pytest.fixture
async def documented(client) -> dict:
    schema = (await client.get("/schema/openapi.json")).json()
    return schema["paths"][CHECK]


async def test_every_documented_value_is_accepted(client, world, reader, documented):
    params = documented["get"]["parameters"]
    assert [p["name"] for p in params] == ["channel", "address", "topic"]
    addresses = {"email": "ann@example.com", "sms": "+447911123456",
                 "phone": "+442079460958", "fax": "+442079460959",
                 "post": "1 High Street, London SW1A 1AA"}
    for param in params:
        for value in _enum(param["schema"]) or []:
            query = {**VALID, param["name"]: value}
            if param["name"] == "channel":
                query = {"channel": value, "address": addresses[value]}
            response = await client.get(CHECK, params=query, headers=reader)
            assert response.status_code == 200, (param["name"], value, response.text)
            assert response.json()[param["name"]] == value
    for param in params:
        if not param["required"]:
            query = {k: v for k, v in VALID.items() if k != param["name"]}
            assert (await client.get(CHECK, params=query, headers=reader)).status_code == 200
    nullable = [p["name"] for p in params if {"type": "null"} in p["schema"].get("oneOf", [])]
    assert nullable == ["topic"]
    empty = await client.get(CHECK, params={**VALID, "topic": ""}, headers=reader)
    assert empty.status_code == 200 and empty.json()["topic"] is None


async def test_every_undocumented_value_is_refused_naming_the_parameter(
        client, world, reader, documented):
    for param in documented["get"]["parameters"]:
        if param["required"]:
            query = {k: v for k, v in VALID.items() if k != param["name"]}
            response = await client.get(CHECK, params=query, headers=reader)
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == f"query.{param['name']}"
        if _enum(param["schema"]):
            for wrong in ("pigeon", "EMAIL", ""):
                response = await client.get(CHECK, params={**VALID, param["name"]: wrong},
                                            headers=reader)
                assert response.status_code == 422, (param["name"], wrong)
                assert response.json()["errors"][0]["field"] == param["name"]


async def test_an_undocumented_parameter_is_ignored_as_on_every_route(client, world, reader):
    plain = await client.get(CHECK, params=VALID, headers=reader)
    extra = await client.get(CHECK, params={**VALID, "channels": "sms"}, headers=reader)
    assert plain.status_code == extra.status_code == 200
    assert plain.json() == extra.json()


async def test_the_bulk_json_body_is_documented_from_the_struct_it_decodes(
        client, world, reader, documented):
    body = documented["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["title"] == "BulkCheckRequest"
    assert sorted(body["required"]) == ["addresses", "channel"]
    assert {"type": "null"} in body["properties"]["topic"]["oneOf"]  # nullable, as parsed
    for channel in _enum(body["properties"]["channel"]):
        ok = await client.post(CHECK, headers=reader, json={
            "channel": channel, "topic": None, "addresses": []})
        assert ok.status_code == 200, (channel, ok.text)
    wrong = await client.post(CHECK, headers=reader, json={"channel": "", "addresses": []})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "channel"
    for field in body["required"]:
        ask = {k: v for k, v in {"channel": "email", "addresses": []}.items() if k != field}
        missing = await client.post(CHECK, headers=reader, json=ask)
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == field
