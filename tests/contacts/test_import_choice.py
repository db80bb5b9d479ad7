"""An imported opt-out or opt-in means what it means from any other source (issue 14): a
mailer that mirrors `GET /v1/suppressions` learns of an imported opted_out, and a later
opted_in lifts exactly the `unsubscribed` suppressions it added, on both engines."""

from __future__ import annotations

import io

from service.contacts import importer
from tests.conftest import follow_feed as follow

HEADER = "external_ref,channel,address,topic,status,occurred_at\n"
LIST = "/v1/suppressions"
CHECK = "/v1/suppressions/check"


async def run(rt, text: str):
    stats = await importer.import_contacts(rt, io.BytesIO(text.encode()))
    assert stats.rejected == 0, stats.rejections
    return stats


def changes(entries: list, keys: dict) -> set:
    """(op, address, topic, reason, source) of the entries, the address named back."""
    named = {key: name for name, key in keys.items()}
    return {(e["op"], named[e["address_key"]], e["topic"], e["reason"], e["source"])
            for e in entries}


async def test_imported_opt_outs_reach_the_suppression_list_and_opt_ins_lift_them(
        rt, client, admin_headers):
    # Ann is known already, with a second address the file does not name.
    created = await client.post("/v1/contacts", headers=admin_headers, json={
        "external_ref": "crm-1",
        "addresses": [{"channel": "email", "address": "ann@example.com"},
                      {"channel": "email", "address": "ann@work.example"}]})
    assert created.status_code == 201, created.text
    added = await client.post(LIST, headers=admin_headers, json={
        "channel": "email", "reason": "complaint", "source": "esp",
        "addresses": ["ann@example.com"]})
    assert added.status_code == 200, added.text
    added = await client.post(LIST, headers=admin_headers, json={
        "channel": "sms", "reason": "hard_bounce", "source": "esp",
        "addresses": ["+442079460958"]})
    assert added.status_code == 200, added.text
    keys = {"ann": rt.parse_address("email", "ann@example.com")[1],
            "ann-work": rt.parse_address("email", "ann@work.example")[1],
            "bob": rt.parse_address("email", "bob@example.com")[1],
            "bob-sms": rt.parse_address("sms", "+442079460958")[1],
            "cy": rt.parse_address("email", "cy@example.com")[1]}
    _, cursor = await follow(client, admin_headers)  # a mirror, caught up

    await run(rt, HEADER
              + "crm-1,email,ann@example.com,,opted_out,\n"
              + "crm-2,email,bob@example.com,newsletter,opted_out,\n"
              + "crm-2,sms,+442079460958,,opted_out,\n"
              + "crm-3,email,cy@example.com,,opted_in,\n")
    entries, cursor = await follow(client, admin_headers, cursor)
    assert changes(entries, keys) == {
        ("added", "ann", None, "unsubscribed", "import"),
        ("added", "ann-work", None, "unsubscribed", "import"),  # every address of the contact
        ("added", "bob", "newsletter", "unsubscribed", "import"),
        ("added", "bob-sms", None, "unsubscribed", "import"),
    }
    check = await client.get(CHECK, headers=admin_headers, params={
        "channel": "email", "address": "bob@example.com", "topic": "newsletter"})
    assert {"unsubscribed", "opted_out"} <= set(check.json()["reasons"])

    await run(rt, HEADER
              + "crm-1,email,ann@example.com,,opted_in,\n"
              + "crm-2,email,bob@example.com,newsletter,opted_in,\n"
              + "crm-2,sms,+442079460958,,opted_in,\n")
    entries, cursor = await follow(client, admin_headers, cursor)
    assert changes(entries, keys) == {
        ("removed", "ann", None, "unsubscribed", "import"),
        ("removed", "ann-work", None, "unsubscribed", "import"),
        ("removed", "bob", "newsletter", "unsubscribed", "import"),
        ("removed", "bob-sms", None, "unsubscribed", "import"),
    }
    snapshot, _ = await follow(client, admin_headers)  # a new mirror: what is in force
    assert changes(snapshot, keys) == {("added", "ann", None, "complaint", "esp"),
                                       ("added", "bob-sms", None, "hard_bounce", "esp")}
    check = await client.get(CHECK, headers=admin_headers, params={
        "channel": "email", "address": "bob@example.com", "topic": "newsletter"})
    assert check.json()["allowed"] is True


async def test_an_old_row_changes_no_suppression(rt, client, admin_headers):
    await run(rt, HEADER + "crm-1,email,ann@example.com,,opted_out,2026-03-01T00:00:00Z\n")
    stats = await run(rt, HEADER + "crm-1,email,ann@example.com,,opted_in,2026-01-01T00:00:00Z\n")
    assert stats.stale == 1
    entries, _ = await follow(client, admin_headers)
    assert [(e["op"], e["reason"]) for e in entries] == [("added", "unsubscribed")]


async def test_an_address_a_later_row_adds_is_not_part_of_an_earlier_choice(
        rt, client, admin_headers):
    await run(rt, HEADER
              + "crm-1,email,ann@example.com,,opted_out,\n"
              + "crm-1,email,ann@work.example,,,\n")  # one by one: added after the opt-out
    entries, _ = await follow(client, admin_headers)
    assert [e["address_key"] for e in entries] == [rt.parse_address("email",
                                                                    "ann@example.com")[1]]
