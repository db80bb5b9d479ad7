"""The mailto: variant: real SMTP messages (aiosmtplib) to the real listener (aiosmtpd)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
import pytest

from service.runtime import build_runtime
from service.security.tokens import TokenData
from service.unsubscribe.inbound import start_server
from tests.conftest import ROOT
from tests.unsubscribe.helpers import add_contact, add_topic, blocked_reasons, counts


@pytest.fixture
async def listener(settings, client):
    """The inbound listener on a free port, on this test's event loop; yields the port."""
    rt = build_runtime(settings)
    await rt.db.open()
    server = await start_server(rt, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    await rt.db.close()


def message(to: str, subject: str = "unsubscribe", sender: str = "ann@example.com"):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content("Please unsubscribe me.")
    return msg


async def send(port: int, msg: EmailMessage, **kwargs):
    return await aiosmtplib.send(msg, hostname="127.0.0.1", port=port, **kwargs)


@pytest.fixture(autouse=True)
async def topics(db):
    await add_topic(db, "newsletter", "Newsletter", legal_basis="soft_opt_in")


async def test_mailto_from_the_links_api_suppresses_the_address(
        client, db, rt, listener, make_key, caplog):
    headers = await make_key("links:write")
    links = await client.post("/v1/links", headers=headers, json={"recipients": [
        {"channel": "email", "address": "ann@example.com", "topic": "newsletter",
         "campaign": "spring"}]})
    header = links.json()["links"][0]["headers"]["List-Unsubscribe"]
    mailto = urlsplit(header.split(", ")[1].strip("<>"))
    to, subject = mailto.path, unquote(mailto.query).removeprefix("subject=")
    token = to.split("+", 1)[1].split("@")[0]
    with caplog.at_level(logging.DEBUG):
        errors, reply = await send(listener, message(to, subject))
    assert errors == {} and reply.startswith("2.0.0 Unsubscribed")
    reasons = await blocked_reasons(db, rt, "email", "ann@example.com", "newsletter")
    assert "unsubscribed" in reasons and "opted_out" in reasons
    event = await db.fetchrow("SELECT source, campaign, ip FROM consent_event")
    assert (event["source"], event["campaign"], event["ip"]) == ("mailto", "spring", "127.0.0.1")
    assert not any(token in r.getMessage() for r in caplog.records)
    # a repeat (the sender's client retried) changes nothing more
    before = await counts(db)
    await send(listener, message(to, subject))
    assert await counts(db) == before


async def test_lowercased_local_part_falls_back_to_the_subject(db, rt, listener):
    contact_id, _ = await add_contact(db, rt, "email", "bob@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact_id, "email", "*", ""))
    to = f"unsubscribe+{token.lower()}@PREFS.example.com"  # a relay lowercased the local part
    await send(listener, message(to, f"Re: unsubscribe {token}"))
    assert "unsubscribed" in await blocked_reasons(db, rt, "email", "bob@example.com", None)


async def test_token_only_in_the_subject(db, rt, listener):
    contact_id, _ = await add_contact(db, rt, "email", "cat@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact_id, "email", "newsletter", ""))
    await send(listener, message("unsubscribe@prefs.example.com", f"unsubscribe {token}"))
    assert "unsubscribed" in await blocked_reasons(db, rt, "email", "cat@example.com",
                                                   "newsletter")


async def test_no_valid_token_is_refused_and_writes_nothing(db, rt, listener, caplog):
    contact_id, _ = await add_contact(db, rt, "email", "dan@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact_id, "email", "*", ""))
    before = await counts(db)
    with caplog.at_level(logging.INFO):
        for to, subject in [
            (f"unsubscribe+{token.lower()}@prefs.example.com", "unsubscribe"),
            (f"unsubscribe+{token[:-4]}@prefs.example.com", f"unsubscribe {token[:-4]}"),
            ("unsubscribe@prefs.example.com", "unsubscribe"),
            (f"unsubscribe+{rt.signer.sign('preferences', TokenData(contact_id, 'email', '*'))}"
             "@prefs.example.com", "unsubscribe"),
        ]:
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await send(listener, message(to, subject))
            assert refused.value.code == 550
    assert any("without a valid token" in r.getMessage() for r in caplog.records)
    assert not any(token[:20].lower() in r.getMessage().lower() for r in caplog.records)
    assert await counts(db) == before


async def test_other_recipients_and_null_senders(db, rt, listener):
    contact_id, _ = await add_contact(db, rt, "email", "eve@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact_id, "email", "*", ""))
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(listener, message(f"someone+{token}@prefs.example.com"))
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(listener, message(f"unsubscribe+{token}@elsewhere.example"))
    before = await counts(db)
    # a bounce or auto-reply (null reverse-path) is accepted and ignored
    errors, _ = await send(listener, message(f"unsubscribe+{token}@prefs.example.com"),
                           sender="", recipients=[f"unsubscribe+{token}@prefs.example.com"])
    assert errors == {}
    assert await counts(db) == before


async def test_unknown_contact_gets_the_same_reply(db, rt, listener):
    before = await counts(db)
    token = rt.signer.sign("unsubscribe", TokenData("0" * 32, "email", "*", ""))
    _, reply = await send(listener, message(f"unsubscribe+{token}@prefs.example.com"))
    assert reply.startswith("2.0.0 Unsubscribed")
    assert await counts(db) == before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_python_m_service_smtp(settings, db, rt):
    """The Procfile's `smtp` process: `python -m service smtp` on the configured port."""
    contact_id, _ = await add_contact(db, rt, "email", "fay@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact_id, "email", "*", ""))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "ENVIRONMENT": "test",
           "SECRET_KEYS": ",".join(settings.secret_keys), "HASH_KEY": settings.hash_key,
           "DATA_DIR": str(settings.data_dir),
           "UNSUBSCRIBE_MAILTO": "unsubscribe@prefs.example.com",
           "INBOUND_SMTP_HOST": "127.0.0.1", "INBOUND_SMTP_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "smtp", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        while True:  # wait until it listens (not a timed assertion)
            assert proc.returncode is None, (await proc.stdout.read()).decode()
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        await send(port, message(f"unsubscribe+{token}@prefs.example.com"))
    finally:
        proc.terminate()
        output = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, output
    assert token not in output
    assert "unsubscribed" in await blocked_reasons(db, rt, "email", "fay@example.com", None)
