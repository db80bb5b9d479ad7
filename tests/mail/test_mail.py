"""Outgoing mail through the outbox to a real SMTP server (aiosmtpd), on both engines."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from service import outbox
from service.mail.senders import SENDERS
from tests.mail.smtp import body

LINKS = {"url": "https://prefs.example.com/u/" + "t" * 150,
         "mailto": "unsubscribe+abc@prefs.example.com"}


async def queue(db, to: str, template: str = "preferences_link", lang: str = "en",
                list_unsubscribe: dict | None = None, dedupe_key: str | None = None) -> None:
    async with db.transaction() as tx:
        await outbox.enqueue(tx, "email", {
            "to": to, "template": template, "lang": lang,
            "context": {"url": "https://prefs.example.com/p/tok"},
            "list_unsubscribe": list_unsubscribe,
        }, dedupe_key=dedupe_key)


async def test_email_is_multipart_with_message_id_date_and_list_unsubscribe(db, worker, smtp):
    await queue(db, "ann@example.com", list_unsubscribe=LINKS)
    assert await outbox.run_once(worker, SENDERS) == 1
    [message] = smtp.to("ann@example.com")
    assert message.get_content_type() == "multipart/alternative"
    assert "https://prefs.example.com/p/tok" in body(message, "plain")
    assert 'href="https://prefs.example.com/p/tok"' in body(message, "html")
    assert message["Subject"] == "Your link to your communication preferences at Example Ltd"
    assert message["Message-ID"].endswith("@localhost>")  # MAIL_FROM's domain
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["List-Unsubscribe"] == f"<{LINKS['url']}>, <mailto:{LINKS['mailto']}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert smtp.envelopes[0] == ("preferences@localhost", ["ann@example.com"])
    status = await db.fetchval("SELECT status FROM outbox")
    assert status == "sent"


async def test_service_mail_without_list_unsubscribe_has_no_such_headers(db, worker, smtp):
    await queue(db, "bob@example.com")
    await outbox.run_once(worker, SENDERS)
    [message] = smtp.to("bob@example.com")
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None


async def test_email_in_the_payload_language(db, worker, smtp):
    await queue(db, "cleo@example.com", lang="de")
    await queue(db, "dan@example.com", lang="xx")  # no catalogue: the default language
    await outbox.run_once(worker, SENDERS)
    [german] = smtp.to("cleo@example.com")
    assert german["Subject"] == "Ihr Link zu Ihren Kommunikationseinstellungen bei Example Ltd"
    assert "Einstellungen öffnen" in body(german, "html")
    [english] = smtp.to("dan@example.com")
    assert english["Subject"].startswith("Your link")


async def test_mail_queued_while_smtp_is_down_is_delivered_once_later(db, worker, smtp):
    smtp.stop()
    await queue(db, "eve@example.com", dedupe_key="k1")
    assert await outbox.run_once(worker, SENDERS) == 1
    job = await db.fetchrow("SELECT status, attempts, last_error FROM outbox")
    assert (job["status"], job["attempts"]) == ("pending", 1)
    assert job["last_error"]  # the connection failure, for operators
    assert smtp.messages == []
    # nothing is due before the backoff has passed ...
    assert await outbox.run_once(worker, SENDERS) == 0
    # ... which we let pass, with the server back up
    smtp.start()
    await db.execute("UPDATE outbox SET next_attempt_at = created_at")
    assert await outbox.run_once(worker, SENDERS) == 1
    assert await outbox.run_once(worker, SENDERS) == 0
    assert len(smtp.to("eve@example.com")) == 1
    assert await db.fetchval("SELECT status FROM outbox") == "sent"


async def test_the_worker_discovers_the_email_sender(db, worker, smtp):
    await queue(db, "fay@example.com")
    await outbox.run_once(worker)  # senders gathered from service/*/senders.py
    assert len(smtp.to("fay@example.com")) == 1
