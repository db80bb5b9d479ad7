"""`/p`: email me a link to my preferences, with the same answer for known and unknown."""

from __future__ import annotations

import re

from service import outbox
from service.mail.senders import SENDERS
from service.preferences.links import CLIENT_LIMIT
from tests.mail.smtp import body
from tests.preferences.seed import add_contact, add_topic, count, csrf_token, snapshot


async def ask(client, address: str, lang: str = "en"):
    page = await client.get("/p", headers={"Accept-Language": lang})
    assert page.status_code == 200
    return await client.post("/p", data={"_csrf_token": csrf_token(page.text), "email": address},
                              headers={"Accept-Language": lang})


async def test_same_answer_and_same_work_for_known_and_unknown(client, db, rt):
    await add_contact(db, rt, [("email", "ann@example.com")])
    known = await ask(client, " Ann@Example.com ")
    unknown = await ask(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert "If we hold preferences for that address, we have sent it a link" in known.text
    jobs = await db.fetch("SELECT kind, status, payload FROM outbox ORDER BY id")
    assert [(j["kind"], j["status"]) for j in jobs] == [("email", "pending"), ("noop", "sent")]
    assert "Ann@example.com" in str(jobs[0]["payload"])  # as typed, normalized
    assert "nobody" not in str(jobs[1]["payload"])  # nothing about the unknown address kept


async def test_one_link_per_address_per_window_with_the_same_answer(client, db, rt):
    await add_contact(db, rt, [("email", "ann@example.com")])
    first = await ask(client, "ann@example.com")
    again = await ask(client, "ANN@example.com")
    assert first.text == again.text
    assert await count(db, "outbox") == 1


async def test_bad_address_is_a_clear_error_and_writes_nothing(client, db):
    before = await snapshot(db)
    for value, message in (("", "Please enter your email address."),
                           ("not an address", "That does not look like an email address.")):
        page = await ask(client, value)
        assert page.status_code == 400 and message in page.text
        assert 'aria-invalid="true"' in page.text
    assert await snapshot(db) == before


async def test_post_without_csrf_is_403(client, db):
    await client.get("/p")
    response = await client.post("/p", data={"email": "ann@example.com"})
    assert response.status_code == 403
    assert await count(db, "outbox") == 0


async def test_per_client_limit(client, db):
    answers = [(await ask(client, f"person{i}@example.com")).status_code
               for i in range(CLIENT_LIMIT + 1)]
    assert answers == [200] * CLIENT_LIMIT + [429]
    limited = await ask(client, "one-more@example.com")
    assert "too many requests" in limited.text.lower()
    assert int(limited.headers["retry-after"]) > 0
    assert await count(db, "outbox") == CLIENT_LIMIT


async def test_the_link_arrives_by_email_in_the_asked_language_and_works(client, db, rt,
                                                                         worker, smtp):
    await add_topic(db, "newsletter", "Newsletter", ["email"])
    await add_contact(db, rt, [("email", "ann@example.com")])
    await ask(client, "ann@example.com", lang="de")
    await outbox.run_once(worker, SENDERS)
    [message] = smtp.to("ann@example.com")
    assert message["Subject"].startswith("Ihr Link zu Ihren Kommunikationseinstellungen")
    url = re.search(r"https://prefs\.example\.com(/p/\S+)", body(message, "plain")).group(1)
    page = await client.get(url)
    assert page.status_code == 200 and "Newsletter" in page.text
