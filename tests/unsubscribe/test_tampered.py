"""Bad, truncated, re-signed and foreign tokens: a friendly 4xx page, nothing written, a log
line without the token. Key rotation keeps old links working; removing a key fails kindly."""

from __future__ import annotations

import logging

import pytest
from itsdangerous import URLSafeSerializer
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.security.tokens import TokenData, TokenSigner
from tests.conftest import make_settings
from tests.unsubscribe.helpers import (
    GMAIL_HEADERS,
    ONE_CLICK_BODY,
    add_contact,
    add_topic,
    blocked_reasons,
    counts,
)

OLD_KEY, NEW_KEY = "old-secret-key-0123456789", "new-secret-key-0123456789"


def flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]


def tampered_tokens(rt, contact_id: str) -> dict[str, str]:
    data = TokenData(contact_id, "email", "*", "c")
    good = rt.signer.sign("unsubscribe", data)
    payload = [contact_id, "email", "*", "c"]
    return {
        "truncated": good[:-5],
        "payload only": good.split(".")[0],
        "flipped in signature": flip(good, len(good) - 3),
        "flipped in payload": flip(good, 10),
        "re-signed with another key": URLSafeSerializer(
            "attacker-key-0123456789", salt="unsubscribe").dumps(payload),
        "another purpose": rt.signer.sign("preferences", data),
        "no salt": URLSafeSerializer("test-secret-key-0123456789").dumps(payload),
        "another contact's payload": good.split(".")[0][:-4] + "AAAA." + good.split(".")[1],
        "garbage": "not-a-token",
        "dots": "...",
        "overlong": "A" * 5000 + "." + "B" * 27,
    }


async def test_tampered_tokens_fail_kindly_and_write_nothing(client, db, rt, caplog):
    contact_id, _ = await add_contact(db, rt, "email", "ann@example.com")
    before = await counts(db)
    for name, token in tampered_tokens(rt, contact_id).items():
        caplog.clear()
        with caplog.at_level(logging.INFO):
            for method in ("GET", "HEAD", "POST"):
                kwargs = {"content": ONE_CLICK_BODY, "headers": GMAIL_HEADERS} \
                    if method == "POST" else {}
                response = await client.request(method, f"/u/{token}", **kwargs)
                assert response.status_code == 400, (name, method)
                if method != "HEAD":
                    assert "This link does not work" in response.text
                    assert 'href="/p"' in response.text
            undo = await client.post(f"/u/{token}/undo", data={})
            assert undo.status_code in (400, 403)
        # the service's own log lines (httpx is the test's client logging its requests)
        lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
        assert any("invalid unsubscribe token" in line for line in lines), name
        assert not any(token in line or token[:20] in line for line in lines), name
    assert await counts(db) == before
    assert await blocked_reasons(db, rt, "email", "ann@example.com", None) == []


async def test_old_links_work_after_rotation_and_fail_kindly_once_removed(
        database_url, tmp_path, db, make_key):
    await add_topic(db, "newsletter", "Newsletter", legal_basis="soft_opt_in")
    headers = await make_key("links:write")
    body = {"recipients": [{"channel": "email", "address": "old@example.com"},
                           {"channel": "email", "address": "kept@example.com"}]}

    def app_with(*keys):
        return AsyncTestClient(app=create_app(make_settings(
            database_url, tmp_path, secret_keys=list(keys))), base_url="https://prefs.example.com")

    async with app_with(OLD_KEY) as old_app:
        links = (await old_app.post("/v1/links", headers=headers, json=body)).json()["links"]
    old_paths = ["/u/" + link["unsubscribe_url"].rsplit("/", 1)[1] for link in links]

    async with app_with(OLD_KEY, NEW_KEY) as rotated:
        assert (await rotated.get(old_paths[0])).status_code == 200
        done = await rotated.post(old_paths[0], content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
        assert done.status_code == 200
        fresh = (await rotated.post("/v1/links", headers=headers, json=body)).json()["links"]
    rt = create_app(make_settings(database_url, tmp_path)).state.rt  # for its keyer
    assert "unsubscribed" in await blocked_reasons(db, rt, "email", "old@example.com", None)
    fresh_token = fresh[1]["unsubscribe_url"].rsplit("/", 1)[1]
    TokenSigner([NEW_KEY]).verify("unsubscribe", fresh_token)  # the newest key signs

    before = await counts(db)
    async with app_with(NEW_KEY) as removed:
        page = await removed.get(old_paths[1])
        assert page.status_code == 400 and "This link does not work" in page.text
        post = await removed.post(old_paths[1], content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
        assert post.status_code == 400
        assert (await removed.get("/u/" + fresh_token)).status_code == 200
    assert await counts(db) == before


@pytest.mark.parametrize("purpose", ["confirm", "privacy"])
async def test_timed_tokens_of_other_purposes_are_refused(client, db, rt, purpose):
    contact_id, _ = await add_contact(db, rt, "email", "bob@example.com")
    token = rt.signer.sign(purpose, TokenData(contact_id, "email", "*", ""))
    before = await counts(db)
    response = await client.post(f"/u/{token}", content=ONE_CLICK_BODY, headers=GMAIL_HEADERS)
    assert response.status_code == 400
    assert await counts(db) == before
