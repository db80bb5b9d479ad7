"""The confirmation and link emails requested while the SMTP server is down arrive, once,
after it is back."""

from __future__ import annotations

from service import outbox
from service.mail.senders import SENDERS
from tests.preferences.seed import add_contact, add_topic, csrf_token


async def test_emails_requested_during_an_smtp_outage_arrive_once_later(
        client, db, rt, make_key, worker, smtp):
    await add_topic(db, "newsletter", "Newsletter", ["email"], "consent")
    await add_contact(db, rt, [("email", "ann@example.com")])
    smtp.stop()
    signup = await client.post("/v1/subscriptions", headers=await make_key("contacts:write"),
                               json={"channel": "email", "address": "bob@example.com",
                                     "topics": ["newsletter"], "wording_version": "v1"})
    assert signup.status_code == 202  # the request does not wait for SMTP
    form = await client.get("/p")
    asked = await client.post("/p", data={"_csrf_token": csrf_token(form.text),
                                          "email": "ann@example.com"})
    assert asked.status_code == 200

    assert await outbox.run_once(worker, SENDERS) == 2  # both tried, both failed
    rows = await db.fetch("SELECT status, attempts FROM outbox WHERE kind = 'email'")
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1)] * 2

    smtp.start()
    await db.execute("UPDATE outbox SET next_attempt_at = created_at")  # the backoff passes
    assert await outbox.run_once(worker, SENDERS) == 2
    assert await outbox.run_once(worker, SENDERS) == 0
    [confirmation] = smtp.to("bob@example.com")
    [link] = smtp.to("ann@example.com")
    assert "/c/" in confirmation.get_body(("plain",)).get_content()
    assert "/p/" in link.get_body(("plain",)).get_content()
