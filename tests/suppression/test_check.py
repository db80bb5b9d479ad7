"""The single check over HTTP: every reason of the send decision, keys instead of addresses,
and clear 4xx answers for bad input."""

from __future__ import annotations

import pytest

CHECK = "/v1/suppressions/check"


async def ask(client, headers, address, topic=None, channel="email"):
    params = {"channel": channel, "address": address}
    if topic is not None:
        params["topic"] = topic
    response = await client.get(CHECK, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_unknown_address_is_allowed_for_soft_opt_in_but_needs_consent(
        client, world, reader):
    body = await ask(client, reader, "Ann@Example.com", "offers")
    assert body == {"channel": "email", "address": "Ann@Example.com", "topic": "offers",
                    "allowed": True, "reasons": [], "next_allowed_at": None}
    body = await ask(client, reader, "ann@example.com", "newsletter")
    assert body["allowed"] is False and body["reasons"] == ["no_consent"]
    whole = await ask(client, reader, "ann@example.com")
    assert whole["topic"] is None and whole["allowed"] is True


@pytest.mark.parametrize("reason", ["hard_bounce", "invalid", "erased"])
async def test_hard_reasons_block_everything_even_transactional(client, world, reader, reason):
    await world.suppress("ann@example.com", reason)
    for topic in (None, "offers", "account"):
        body = await ask(client, reader, "ann@example.com", topic)
        assert body["allowed"] is False
        assert body["reasons"] == [reason]


@pytest.mark.parametrize("reason", ["complaint", "unsubscribed", "manual", "external_list"])
async def test_soft_reasons_block_marketing_not_transactional(client, world, reader, reason):
    await world.suppress("ann@example.com", reason)
    assert (await ask(client, reader, "ann@example.com", "offers"))["reasons"] == [reason]
    assert (await ask(client, reader, "ann@example.com"))["reasons"] == [reason]
    account = await ask(client, reader, "ann@example.com", "account")
    assert account["allowed"] is True


async def test_a_topic_suppression_blocks_that_topic_only(client, world, reader):
    await world.suppress("ann@example.com", "unsubscribed", topic="offers")
    assert (await ask(client, reader, "ann@example.com", "offers"))["reasons"] == ["unsubscribed"]
    assert (await ask(client, reader, "ann@example.com"))["allowed"] is True


async def test_preferences_opted_out_paused_no_consent_restricted(client, world, reader):
    ann = await world.contact("ann@example.com")
    await world.prefer(ann, "opt_in", "newsletter")
    assert (await ask(client, reader, "ann@example.com", "newsletter"))["allowed"] is True
    await world.prefer(ann, "opt_out", "newsletter")
    assert (await ask(client, reader, "ann@example.com", "newsletter"))["reasons"] == [
        "opted_out", "no_consent"]
    bob = await world.contact("bob@example.com")
    await world.prefer(bob, "paused", "offers", paused_days=10)
    assert (await ask(client, reader, "bob@example.com", "offers"))["reasons"] == ["paused"]
    cid = await world.contact("cy@example.com")
    await world.prefer(cid, "opt_out")  # the whole channel
    assert (await ask(client, reader, "cy@example.com"))["reasons"] == ["opted_out"]
    assert (await ask(client, reader, "cy@example.com", "account"))["allowed"] is True
    dee = await world.contact("dee@example.com")
    await world.restrict(dee)
    assert (await ask(client, reader, "dee@example.com", "offers"))["reasons"] == ["restricted"]
    assert (await ask(client, reader, "dee@example.com", "account"))["allowed"] is True


async def test_several_reasons_are_all_listed(client, world, reader):
    ann = await world.contact("ann@example.com")
    await world.prefer(ann, "opt_out")
    await world.suppress("ann@example.com", "hard_bounce")
    await world.suppress("ann@example.com", "complaint")
    body = await ask(client, reader, "ann@example.com", "newsletter")
    assert body["reasons"] == ["hard_bounce", "complaint", "opted_out", "no_consent"]


async def test_the_address_key_answers_like_the_address(client, world, reader, rt):
    await world.suppress("+44 20 7946 0958", "external_list", channel="phone")
    key = rt.parse_address("phone", "020 7946 0958")[1]
    by_key = await ask(client, reader, key.upper(), "offers", channel="phone")
    by_address = await ask(client, reader, "020 7946 0958", "offers", channel="phone")
    assert by_key["reasons"] == by_address["reasons"] == ["external_list"]
    assert by_key["address"] == key.upper()


async def test_email_case_and_an_unencoded_plus_match(client, world, reader):
    await world.suppress("Ann+news@Example.COM", "unsubscribed")
    assert (await ask(client, reader, "ANN+NEWS@example.com"))["reasons"] == ["unsubscribed"]
    raw = await client.get(f"{CHECK}?channel=email&address=ann+news@example.com",
                           headers=reader)
    assert raw.json()["reasons"] == ["unsubscribed"]


@pytest.mark.parametrize(("params", "field"), [
    ({"channel": "email", "address": "not-an-address"}, "address"),
    ({"channel": "pigeon", "address": "ann@example.com"}, "channel"),
    ({"channel": "email", "address": "ann@example.com", "topic": "nope"}, "topic"),
    ({"channel": "phone", "address": "020 7946 0958", "topic": "newsletter"}, "topic"),
    ({"channel": "phone", "address": "12"}, "address"),
    ({"address": "ann@example.com"}, "query.channel"),
])
async def test_bad_input_is_422_naming_the_field(client, world, reader, params, field):
    response = await client.get(CHECK, params=params, headers=reader)
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert body["detail"]


async def test_the_check_needs_the_read_scope(client, world, make_key):
    assert (await client.get(CHECK, params={"channel": "email", "address": "a@example.com"})
            ).status_code == 401
    other = await make_key("contacts:read")
    response = await client.get(CHECK, params={"channel": "email", "address": "a@example.com"},
                                headers=other)
    assert response.status_code == 403


async def test_the_answer_is_documented_in_the_openapi_schema(client):
    schema = (await client.get("/schema/openapi.json")).json()
    get_check = schema["paths"]["/v1/suppressions/check"]["get"]
    ref = get_check["responses"]["200"]["content"]["application/json"]["schema"]
    name = ref["$ref"].rsplit("/", 1)[-1]
    props = schema["components"]["schemas"][name]["properties"]
    assert {"channel", "address", "topic", "allowed", "reasons"} <= set(props)
    assert {p["name"]: p["required"] for p in get_check["parameters"]} == {
        "channel": True, "address": True, "topic": False}
    post_check = schema["paths"]["/v1/suppressions/check"]["post"]
    assert {"application/json", "text/plain", "application/x-ndjson"} <= set(
        post_check["requestBody"]["content"])
