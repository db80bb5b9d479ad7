"""The OpenAPI schema reads well to a client generator (openapi-python-client, openapi-generator):
every operation has an explicit camelCase operationId (a method name), unique, never derived
from the path (`V1SuppressionsCheckCheckMany`); components and inline bodies have plain names
(no module prefixes, no `...JsonBody`, no generic one-word names, no two names that differ
only by word order); enums where the service accepts or answers a fixed set; the same schema,
byte for byte, from every build (no generated examples); and the `Allow` header of OPTIONS
lists every documented method of the path."""

from __future__ import annotations

import json
import re

import pytest
from litestar.testing import TestClient

from service.apikeys.logic import SCOPES
from service.app import create_app
from service.consent.decision import BLOCK_REASONS
from service.consent.ledger import LEDGER_ACTIONS
from tests.conftest import make_settings

CAMEL = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]+)*$")
NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
WORD = re.compile(r"[A-Z][a-z0-9]*")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CHANNELS = ["email", "sms", "phone", "fax", "post"]
REASONS = {"hard_bounce", "invalid", "erased", "complaint", "unsubscribed", "manual",
           "external_list"}
EXPECTED = {  # the names the integration docs and the brief use
    ("get", "/v1/suppressions/check"): "checkSuppression",
    ("post", "/v1/suppressions/check"): "checkSuppressions",
    ("get", "/v1/suppressions"): "listSuppressions",
    ("post", "/v1/suppressions"): "addSuppressions",
    ("delete", "/v1/suppressions/{channel}/{address}"): "removeSuppression",
    ("post", "/v1/links"): "createLinks",
    ("post", "/v1/contacts"): "createContact",
    ("post", "/v1/subscriptions"): "createSubscription",
    ("get", "/healthz"): "checkLiveness",
}


def served_schema(folder) -> bytes:
    """The schema as an app built now serves it; it does not depend on the database."""
    app = create_app(make_settings(f"sqlite:///{folder}/schema.db", folder))
    with TestClient(app) as client:
        return client.get("/schema/openapi.json").content


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    return json.loads(served_schema(tmp_path_factory.mktemp("openapi")))


def test_every_build_serves_the_same_schema(tmp_path_factory):
    """A published schema, a generated client or a diff in review changes only when the API
    does: no faker examples, nothing a build appends to shared state."""
    first = served_schema(tmp_path_factory.mktemp("first"))
    second = served_schema(tmp_path_factory.mktemp("second"))
    assert first == second


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_every_operation_has_a_readable_unique_operation_id(schema):
    seen: dict[str, tuple[str, str]] = {}
    for method, path, operation in operations(schema):
        op_id = operation.get("operationId", "")
        assert CAMEL.match(op_id), f"{method.upper()} {path}: {op_id!r} is not camelCase"
        assert "V1" not in op_id and "_" not in op_id, f"{op_id} is derived from the path"
        assert op_id not in seen, f"{op_id} used by {seen[op_id]} and {(method, path)}"
        seen[op_id] = (method, path)
    assert len(seen) >= 30
    for (method, path), op_id in EXPECTED.items():
        assert schema["paths"][path][method]["operationId"] == op_id


def test_component_and_inline_body_names_read_well(schema):
    by_words: dict[tuple[str, ...], str] = {}
    for name in schema["components"]["schemas"]:
        assert NAME.match(name), f"component {name!r} is not a plain class name"
        assert not name.endswith("JsonBody"), name
        words = WORD.findall(name)
        assert len(words) > 1, f"component {name!r}: one generic word; say what it is of"
        twin = by_words.setdefault(tuple(sorted(words)), name)
        assert twin == name, f"components {twin!r} and {name!r} differ only by word order"
    for method, path, operation in operations(schema):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            body = media["schema"]
            if body.get("type") == "object":  # inline: the generator names it after the title
                assert NAME.match(body.get("title", "")), f"{method} {path}: untitled body"


def _enums(node, path=""):
    """(json path, enum values) of every property or parameter named channel(s) or reason."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("channel", "channels", "reason") and isinstance(value, dict):
                yield f"{path}/{key}", value
            yield from _enums(value, f"{path}/{key}")
        if node.get("in") in ("query", "path") and node.get("name") in ("channel", "reason"):
            yield f"{path}[{node['name']}]", node["schema"]
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _enums(value, f"{path}/{i}")


def _values(schema: dict) -> set | None:
    for option in [schema, schema.get("items", {}),
                   *schema.get("oneOf", []), *schema.get("anyOf", [])]:
        if "enum" in option:
            return set(option["enum"])
        if "const" in option:
            return {option["const"]}
        if "items" in option and "enum" in option["items"]:
            return set(option["items"]["enum"])
    return None


def test_channel_and_reason_are_enums_everywhere(schema):
    found = 0
    for where, value in _enums({"paths": schema["paths"],
                                "components": schema["components"]["schemas"]}):
        if where.endswith("/properties/reason") and "RestrictionIn" in where:
            continue  # free text: why processing is restricted
        values = _values(value)
        assert values is not None, f"{where} is a free string"
        values.discard(None)  # an optional parameter's enum lists null
        if any(f"/{event}/" in where for event in ("ConsentEventOut", "ExportEvent", "ProofEntry")):
            values.discard("*")  # a ledger event of the contact as a whole
        assert values <= set(CHANNELS) or values <= REASONS, (where, values)
        found += 1
    assert found >= 20


def test_nullable_fields_are_nullable(schema):
    check = schema["paths"]["/v1/suppressions/check"]
    body = check["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"type": "null"} in body["properties"]["topic"]["oneOf"]
    result = schema["components"]["schemas"]["CheckResult"]["properties"]["topic"]
    assert {"type": "null"} in result.get("oneOf", result.get("anyOf", []))


async def test_options_allow_every_documented_method(client, admin_headers):
    schema = (await client.get("/schema/openapi.json")).json()
    samples = {"{key}": "newsletter", "{contact_id}": "x", "{sub_id}": "1", "{key_id}": "1",
               "{channel}": "email", "{address}": "a@example.com", "{provider}": "ses",
               "{event_id}": "1"}
    for path, item in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        url = path
        for name, value in samples.items():
            url = url.replace(name, value)
        response = await client.options(url, headers=admin_headers)
        allowed = {m.strip().lower() for m in response.headers.get("allow", "").split(",")}
        assert set(item) & METHODS <= allowed, (path, response.headers.get("allow"))


# (component, property): the one list each enum must come from
FIXED_SETS = {
    ("CheckResult", "reasons"): BLOCK_REASONS, ("BlockedItem", "reasons"): BLOCK_REASONS,
    ("ConsentEventOut", "action"): LEDGER_ACTIONS, ("ExportEvent", "action"): LEDGER_ACTIONS,
    ("ProofEntry", "action"): LEDGER_ACTIONS,
    ("PreferenceOut", "status"): ("opted_in", "opted_out", "pending", "none"),
    ("ExportPreference", "status"): ("opted_in", "opted_out", "pending", "none"),
    ("ApiKeyCreate", "scopes"): SCOPES, ("ApiKeyCreated", "scopes"): SCOPES,
    ("ApiKeyOut", "scopes"): SCOPES,
}


def test_reasons_actions_statuses_and_scopes_are_enums_everywhere(schema):
    """Every property so named is an enum: a generated client gets a type, not a `str`."""
    found = set()
    for component, body in schema["components"]["schemas"].items():
        for prop, value in body.get("properties", {}).items():
            if prop not in ("reasons", "action", "status", "scopes"):
                continue
            values = _values(value)
            assert values is not None, f"{component}.{prop} is a free string"
            values.discard(None)
            expected = FIXED_SETS.get((component, prop))
            if expected is not None:
                assert values == set(expected), (component, prop)
                found.add((component, prop))
    assert found == set(FIXED_SETS)
