"""Self-service from the preference centre: the long-lived footer link only ever sends a fresh,
short-lived link by email; that link shows a confirmation, and only its POST acts."""

from __future__ import annotations

import json
import time

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from service.security.tokens import TokenData
from tests.privacy.conftest import csrf_post


def _pref_token(rt, person) -> str:
    return rt.signer.sign("preferences", TokenData(person.contact_id, "email", "*"))


async def _emails(db, template: str) -> list[dict]:
    rows = await db.fetch("SELECT payload FROM outbox WHERE kind = 'email' ORDER BY id")
    payloads = [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]
    return [p for p in payloads if p["template"] == template]


async def _ask_for_link(client, db, rt, person, action: str) -> str:
    token = _pref_token(rt, person)
    response = await csrf_post(client, f"/p/{token}/data", f"/p/{token}/data",
                               {"action": action})
    assert response.status_code == 200, response.text
    assert "A***@example.com" in response.text  # masked
    [email] = await _emails(db, f"privacy_{action}")
    assert email["to"] == person.email and email["list_unsubscribe"] is None
    assert email["context"]["expires_minutes"] == 60
    url = email["context"]["url"]
    assert url.startswith("https://prefs.example.com/privacy/")
    return url.removeprefix("https://prefs.example.com")


async def _contact_exists(db, person) -> bool:
    return bool(await db.fetchval("SELECT COUNT(*) FROM contact WHERE id = $1",
                                  person.contact_id))


async def test_data_page_shows_both_buttons_and_changes_nothing(client, db, rt, person):
    outbox_before = await db.fetchval("SELECT COUNT(*) FROM outbox")
    page = await client.get(f"/p/{_pref_token(rt, person)}/data")
    assert page.status_code == 200
    assert "Download my data" in page.text and "Delete my data" in page.text
    assert 'name="_csrf_token"' in page.text
    assert await db.fetchval("SELECT COUNT(*) FROM outbox") == outbox_before
    german = await client.get(f"/p/{_pref_token(rt, person)}/data",
                              headers={"Accept-Language": "de"})
    assert "Meine Daten löschen" in german.text


async def test_footer_link_alone_cannot_delete(client, db, rt, person):
    token = _pref_token(rt, person)
    # the preference token is refused by the privacy action page, on GET and on POST
    assert (await client.get(f"/privacy/{token}")).status_code == 400
    refused = await csrf_post(client, f"/p/{token}/data", f"/privacy/{token}", {})
    assert refused.status_code == 400
    # asking for deletion from the preference centre only sends an email
    await _ask_for_link(client, db, rt, person, "delete")
    assert await _contact_exists(db, person)
    # without the CSRF field the form is refused
    assert (await client.post(f"/p/{token}/data", data={"action": "delete"})).status_code == 403


async def test_emailed_delete_link_confirms_then_erases(client, db, rt, person):
    path = await _ask_for_link(client, db, rt, person, "delete")
    page = await client.get(path)
    assert page.status_code == 200 and "Yes, delete my data" in page.text
    assert await _contact_exists(db, person)  # a GET changes nothing
    done = await csrf_post(client, path, path, {})
    assert done.status_code == 200 and "Your data has been deleted" in done.text
    assert not await _contact_exists(db, person)
    assert await db.fetchval("SELECT COUNT(*) FROM suppression WHERE reason = 'erased'") == 2
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event WHERE action = 'erased'"
                             " AND source = 'preference_centre'") == 2
    # the link is spent: the data is gone
    assert (await client.get(path)).status_code == 410


async def test_emailed_download_link_returns_the_export(client, db, rt, person):
    path = await _ask_for_link(client, db, rt, person, "download")
    page = await client.get(path)
    assert page.status_code == 200 and "Download my data" in page.text
    response = await csrf_post(client, path, path, {})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    export = json.loads(response.content)
    assert export["contact"]["id"] == person.contact_id
    assert len(export["consent_events"]) == person.events
    assert await _contact_exists(db, person)  # a download link never deletes


async def test_privacy_links_expire_and_tampered_ones_are_refused(client, db, rt, settings,
                                                                  person):
    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 3600

    old = URLSafeTimedSerializer(settings.secret_keys, salt="privacy", signer=TwoHoursAgo)
    expired = old.dumps([person.contact_id, "email", "*", "", "delete"])
    assert (await client.get(f"/privacy/{expired}")).status_code == 400
    assert (await csrf_post(client, f"/p/{_pref_token(rt, person)}/data",
                            f"/privacy/{expired}", {})).status_code == 400
    assert await _contact_exists(db, person)
    fresh = rt.signer.sign("privacy", TokenData(person.contact_id, "email", "*", "", "delete"))
    assert (await client.get(f"/privacy/{fresh}")).status_code == 200
    assert (await client.get(f"/privacy/{fresh[:-3]}xyz")).status_code == 400
    unknown_action = rt.signer.sign("privacy", TokenData(person.contact_id, "email", "*", "",
                                                         "export-all"))
    assert (await client.get(f"/privacy/{unknown_action}")).status_code == 400


async def test_repeated_requests_send_one_email_and_bad_choice_sends_none(client, db, rt,
                                                                          person):
    token = _pref_token(rt, person)
    for _ in range(3):
        response = await csrf_post(client, f"/p/{token}/data", f"/p/{token}/data",
                                   {"action": "download"})
        assert response.status_code == 200
    assert len(await _emails(db, "privacy_download")) == 1
    bad = await csrf_post(client, f"/p/{token}/data", f"/p/{token}/data", {"action": "nuke"})
    assert bad.status_code == 400
    assert len(await _emails(db, "privacy_delete")) == 0


async def test_without_an_email_address_no_link_is_sent(client, db, rt, topics):
    from service.contacts.store import ensure_contact_for_address

    normalized, key = rt.parse_address("sms", "+447911123457")
    async with db.transaction() as tx:
        cid, _ = await ensure_contact_for_address(tx, channel="sms", normalized=normalized,
                                                  address_key=key, given="+447911123457")
    token = rt.signer.sign("preferences", TokenData(cid, "sms", "*"))
    response = await csrf_post(client, f"/p/{token}/data", f"/p/{token}/data",
                               {"action": "delete"})
    assert response.status_code == 200
    assert "We cannot send you a link" in response.text
    assert await db.fetchval("SELECT COUNT(*) FROM outbox") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM contact WHERE id = $1", cid) == 1
