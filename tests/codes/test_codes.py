"""Printed opt-out codes: `POST /v1/links` gives post and fax recipients a code, `/o` takes it.

A code typed in lower case without dashes stops exactly what the recipient's one-click link
would (blocked by the check, `unsubscribed` in the feed, ledger source `printed_code`); a wrong
code writes nothing; a repeat is harmless; guessing is rate-limited per IP."""

from __future__ import annotations

import math
import re

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.codes.logic import ALPHABET, normalize
from tests.conftest import follow_feed, make_settings
from tests.unsubscribe.helpers import add_topic, blocked_reasons, counts

LETTER = "1 High Street, London SW1A 1AA"
FAX = "+44 20 7946 0999"
GROUPED = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}$")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
async def topics(db):
    await add_topic(db, "offers", "Special offers", channels=("email", "post", "fax"),
                    legal_basis="soft_opt_in")
    await add_topic(db, "catalogue", "Catalogue", channels=("post",), legal_basis="soft_opt_in")


@pytest.fixture
async def headers(make_key):
    return await make_key("links:write")


async def links_for(client, headers, *recipients) -> list[dict]:
    response = await client.post("/v1/links", headers=headers,
                                 json={"recipients": list(recipients)})
    assert response.status_code == 200, response.text
    return response.json()["links"]


def typed(code: str) -> str:
    """How a person might type it: lower case, no dashes."""
    return code.replace("-", "").lower()


async def test_post_and_fax_links_carry_codes_and_email_links_do_not(client, db, headers):
    post, fax, email = await links_for(
        client, headers,
        {"channel": "post", "address": LETTER, "topic": "offers", "campaign": "winter"},
        {"channel": "fax", "address": FAX},
        {"channel": "email", "address": "ann@example.com", "topic": "offers"})
    for link in (post, fax):
        code = link["opt_out_code"]
        assert GROUPED.match(code), code
        assert set(code.replace("-", "")) <= set(ALPHABET)
        assert not set("ILOU") & set(ALPHABET)
        assert len(code.replace("-", "")) * math.log2(len(ALPHABET)) >= 50
        assert link["opt_out_url"] == "https://prefs.example.com/o"
    assert post["opt_out_code"] != fax["opt_out_code"]
    assert "notice" not in post
    notice = fax["notice"]
    assert fax["opt_out_code"] in notice and "https://prefs.example.com/o" in notice
    assert "30 days" in notice and "free of charge" in notice
    assert not {"opt_out_code", "opt_out_url", "notice"} & set(email)
    # only keyed hashes are stored, never the code
    rows = await db.fetch("SELECT code_hash, channel, topic, campaign FROM opt_out_code"
                          " ORDER BY channel")
    assert [(r[1], r[2], r[3]) for r in rows] == [("fax", "", ""), ("post", "offers", "winter")]
    for row in rows:
        for code in (post["opt_out_code"], fax["opt_out_code"]):
            assert code.replace("-", "") not in row[0] and code not in row[0]


async def test_codes_are_random_and_each_request_issues_new_ones(client, headers):
    recipient = {"channel": "post", "address": LETTER, "topic": "offers"}
    many = await links_for(client, headers, *[recipient] * 50)
    again = await links_for(client, headers, recipient)
    codes = {link["opt_out_code"] for link in many + again}
    assert len(codes) == 51
    # every character of the alphabet turns up: the draw is not biased to a few
    assert len(set("".join(codes).replace("-", ""))) > 25


def test_typed_codes_are_read_leniently():
    assert normalize("k7qm 3xpd-2w") == "K7QM3XPD2W"
    assert normalize("  K7QM–3XPD–2W ") == "K7QM3XPD2W"  # en dashes from a word processor
    assert normalize("ABCD-EFGH-OI") == normalize("abcd efgh 01") == "ABCDEFGH01"
    assert normalize("abcd-efgh-l1") == "ABCDEFGH11"
    assert normalize("K7QM-3XPD") is None  # too short
    assert normalize("K7QM-3XPD-2W9") is None  # too long
    assert normalize("K7QM-3XPD-2U") is None  # U is never part of a code


async def test_the_form_changes_nothing(client, db, headers):
    [link] = await links_for(client, headers, {"channel": "post", "address": LETTER})
    before = await counts(db)
    page = await client.get("/o")
    assert page.status_code == 200
    assert 'name="code"' in page.text and 'action="/o"' in page.text
    prefilled = await client.get("/o", params={"code": link["opt_out_code"]})
    assert prefilled.status_code == 200
    assert f'value="{link["opt_out_code"]}"' in prefilled.text
    assert await counts(db) == before


async def test_a_code_typed_in_lower_case_unsubscribes_like_a_one_click(client, db, rt, headers,
                                                                       make_key):
    reader = await make_key("suppressions:read")
    _, cursor = await follow_feed(client, reader)
    [link] = await links_for(client, headers, {"channel": "post", "address": LETTER,
                                               "topic": "offers", "campaign": "winter"})
    assert await blocked_reasons(db, rt, "post", LETTER, "offers") == []
    client.cookies.clear()  # a plain form post: no CSRF cookie, no token
    response = await client.post("/o", content=f"code={typed(link['opt_out_code'])}",
                                 headers={**FORM, "User-Agent": "Firefox"})
    assert response.status_code == 200, response.text
    assert "You are unsubscribed" in response.text
    assert "Special offers" in response.text and "post" in response.text
    reasons = await blocked_reasons(db, rt, "post", LETTER, "offers")
    assert "unsubscribed" in reasons and "opted_out" in reasons
    assert await blocked_reasons(db, rt, "post", LETTER, "catalogue") == []  # one topic only
    entries, _ = await follow_feed(client, reader, cursor)
    assert [(e["op"], e["channel"], e["topic"], e["reason"]) for e in entries] == [
        ("added", "post", "offers", "unsubscribed")]
    event = await db.fetchrow("SELECT action, source, channel, topic, campaign, user_agent"
                              " FROM consent_event")
    assert tuple(event) == ("opt_out", "printed_code", "post", "offers", "winter", "Firefox")


async def test_a_fax_code_for_the_whole_channel_stops_every_marketing_fax(client, db, rt,
                                                                          headers):
    [link] = await links_for(client, headers, {"channel": "fax", "address": FAX})
    response = await client.post("/o", data={"code": f" {link['opt_out_code'].lower()} "})
    assert response.status_code == 200, response.text
    assert "any marketing" in response.text
    assert "unsubscribed" in await blocked_reasons(db, rt, "fax", FAX, "offers")


async def test_a_repeat_is_harmless(client, db, headers):
    [link] = await links_for(client, headers, {"channel": "post", "address": LETTER,
                                               "topic": "offers"})
    first = await client.post("/o", data={"code": link["opt_out_code"]})
    written = await counts(db)
    second = await client.post("/o", data={"code": typed(link["opt_out_code"])})
    assert first.status_code == second.status_code == 200
    assert "You are unsubscribed" in second.text
    assert await counts(db) == written
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == 1


async def test_wrong_codes_write_nothing_and_say_so(client, db, headers):
    [link] = await links_for(client, headers, {"channel": "post", "address": LETTER})
    real = link["opt_out_code"].replace("-", "")
    wrong = ("0" if real[0] != "0" else "1") + real[1:]
    before = await counts(db)
    unknown = await client.post("/o", data={"code": wrong})
    assert unknown.status_code == 404
    assert "We do not know that code, so nothing has changed" in unknown.text
    malformed = await client.post("/o", data={"code": "not a code"})
    assert malformed.status_code == 400
    assert "That is not an opt-out code" in malformed.text
    empty = await client.post("/o", data={"code": "  "})
    assert empty.status_code == 400 and "Please enter your code" in empty.text
    assert await counts(db) == before


async def test_guessing_is_rate_limited_per_ip(database_url, tmp_path, db):
    app = create_app(make_settings(database_url, tmp_path, rate_limit_codes_per_minute=3))
    async with AsyncTestClient(app=app, base_url="https://prefs.example.com") as client:
        for _ in range(3):
            assert (await client.post("/o", data={"code": "K7QM-3XPD-2W"})).status_code == 404
        limited = await client.post("/o", data={"code": "K7QM-3XPD-2W"})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "too many attempts" in limited.text  # a page, not JSON: a person reads it
        assert (await client.get("/o")).status_code == 200  # the form itself is not limited
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == 0


async def test_codes_go_with_their_contact_on_erasure(client, db, rt, headers, admin_headers):
    [link] = await links_for(client, headers, {"channel": "post", "address": LETTER})
    token = rt.signer.verify("preferences", link["preferences_url"].rsplit("/", 1)[1])
    erased = await client.delete(f"/v1/contacts/{token.contact_id}", headers=admin_headers)
    assert erased.status_code in (200, 204), erased.text
    assert await db.fetchval("SELECT COUNT(*) FROM opt_out_code") == 0
    response = await client.post("/o", data={"code": link["opt_out_code"]})
    assert response.status_code == 404
