"""One meaning of stop and resume, whatever the source, on both engines.

A mailer that only mirrors `GET /v1/suppressions` (snapshot, then the change feed by cursor)
must learn of every opt-out, from every source, and of every opt-in: an opt-out adds the
`unsubscribed` suppression of (channel, topic) to each of the person's addresses on that
channel; an opt-in lifts exactly those, never a complaint, a hard bounce or another topic's.
Each source is driven through its real entry point (HTTP route, SMTP listener, signed webhook).
"""

from __future__ import annotations

import re
import uuid

import pytest
from prometheus_client import REGISTRY

from service.consent.choice import apply_choice
from service.consent.ledger import Proof
from service.security.tokens import ALL_TOPICS, TokenData
from service.suppression.store import add_suppression
from tests.conftest import follow_feed, make_settings
from tests.preferences.seed import add_contact, add_topic, csrf_token
from tests.unsubscribe.helpers import GMAIL_HEADERS, ONE_CLICK_BODY, form_value
from tests.unsubscribe.test_inbound import listener, message, send  # noqa: F401  (fixture)
from tests.webhooks.conftest import MAILGUN_KEY, mailgun_signed, sample

ANN, ANN_WORK, PHONE = "ann@example.com", "ann@work.example", "+44 20 7946 0123"
NEWS = "newsletter"


@pytest.fixture
def settings(database_url, tmp_path):
    return make_settings(database_url, tmp_path, mailgun_webhook_signing_key=MAILGUN_KEY)


class Person:
    """Ann (two email addresses and a mobile), her tokens, and a mailer's mirror of the list."""

    def __init__(self, client, db, rt, contact_id: str, reader, writer):
        self.client, self.db, self.rt, self.id = client, db, rt, contact_id
        self.reader, self.writer = reader, writer
        self.held: set[tuple] = set()
        self.cursor: str | None = None

    def key(self, address: str, channel: str = "email") -> str:
        return self.rt.parse_address(channel, address)[1]

    def token(self, purpose: str, topic: str = NEWS, extra: str = "") -> str:
        return self.rt.signer.sign(purpose, TokenData(self.id, "email", topic, "spring", extra))

    async def _follow(self, cursor: str | None) -> tuple[list[dict], str]:
        return await follow_feed(self.client, self.reader, cursor)

    async def sync(self) -> list[dict]:
        """Follow the feed from where the mirror stopped; the new entries."""
        entries, self.cursor = await self._follow(self.cursor)
        for e in entries:
            row = (e["channel"], e["address_key"], e["topic"], e["reason"])
            (self.held.add if e["op"] == "added" else self.held.discard)(row)
        return entries

    async def listing(self) -> set[tuple]:
        """The suppressions in force, as a fresh listing (no cursor) shows them."""
        entries, _ = await self._follow(None)
        return {(e["channel"], e["address_key"], e["topic"], e["reason"]) for e in entries
                if e["op"] == "added"}

    async def last_event(self) -> dict:
        return await self.db.fetchrow(
            "SELECT action, source, topic, detail FROM consent_event WHERE contact_id = $1"
            " ORDER BY id DESC LIMIT 1", self.id)

    async def status(self, topic: str | None) -> str | None:
        return await self.db.fetchval(
            "SELECT status FROM preference WHERE contact_id = $1 AND channel = 'email'"
            " AND topic = $2", self.id, topic or "")


@pytest.fixture
async def ann(client, db, rt, make_key) -> Person:
    await add_topic(db, NEWS, "Newsletter", ["email"], "soft_opt_in")
    await add_topic(db, "offers", "Offers", ["email", "sms"], "soft_opt_in")
    contact_id = await add_contact(db, rt, [("email", ANN), ("email", ANN_WORK), ("sms", PHONE)])
    person = Person(client, db, rt, contact_id, await make_key("suppressions:read"),
                    await make_key("contacts:write"))
    await person.sync()
    return person


async def centre_switch(p: Person, field: str, on: bool) -> None:
    """Open the preference centre and post it back with one switch set (a re-send when it
    already is)."""
    url = f"/p/{p.token('preferences', ALL_TOPICS)}"
    page = await p.client.get(url)
    checked = set(re.findall(r'name="([^"]+)" value="on" checked', page.text))
    checked = checked | {field} if on else checked - {field}
    response = await p.client.post(url, data={
        "_csrf_token": csrf_token(page.text), "action": "save",
        "shown": re.findall(r'name="shown" value="([^"]+)"', page.text),
        **{name: "on" for name in checked}})
    assert response.status_code == 200, response.text


async def put_preference(p: Person, status: str, topic: str | None = NEWS) -> None:
    response = await p.client.put(f"/v1/contacts/{p.id}/preferences", headers=p.writer, json={
        "preferences": [{"channel": "email", "topic": topic, "status": status}]})
    assert response.status_code == 200, response.text


# -- the sources of a stop: (name, ledger source, topic stopped, how) -------------------------
async def one_click(p: Person, listener_port) -> None:
    response = await p.client.post(f"/u/{p.token('unsubscribe')}", content=ONE_CLICK_BODY,
                                   headers=GMAIL_HEADERS)
    assert response.status_code == 200


async def page_button(p: Person, listener_port) -> str:
    response = await p.client.post(f"/u/{p.token('unsubscribe')}", data={"source": "page"})
    assert response.status_code == 200
    return response.text


async def centre_off(p: Person, listener_port) -> None:
    await centre_switch(p, f"topic.email.{NEWS}", on=False)


async def put_off(p: Person, listener_port) -> None:
    await put_preference(p, "opted_out")


async def mailto(p: Person, listener_port) -> None:
    errors, reply = await send(listener_port,
                               message(f"unsubscribe+{p.token('unsubscribe')}@prefs.example.com"))
    assert errors == {} and reply.startswith("2.0.0 Unsubscribed")


async def esp_unsubscribe(p: Person, listener_port) -> None:
    event = sample("mailgun-unsubscribed.json")
    event["event-data"] = {**event["event-data"], "recipient": ANN}
    response = await p.client.post("/v1/webhooks/mailgun",
                                   json=mailgun_signed(event, uuid.uuid4().hex * 2))
    assert response.status_code == 200, response.text


STOPS = [
    ("one_click", one_click, NEWS),
    ("unsubscribe_page", page_button, NEWS),
    ("preference_centre", centre_off, NEWS),
    ("api", put_off, NEWS),
    ("mailto", mailto, NEWS),
    ("esp_webhook", esp_unsubscribe, None),  # the sample names no topic: the whole channel
]


@pytest.mark.parametrize("source, stop, topic", STOPS, ids=[s[0] for s in STOPS])
async def test_an_opt_out_from_any_source_reaches_the_suppression_list(
        ann, listener, source, stop, topic):  # noqa: F811  (the mailto listener's port)
    port = listener
    await stop(ann, port)
    new = await ann.sync()
    expected = {("email", ann.key(ANN), topic, "unsubscribed"),
                ("email", ann.key(ANN_WORK), topic, "unsubscribed")}
    assert {(e["op"], e["source"]) for e in new} == {("added", source)}
    assert ann.held == expected  # the feed told the mirror
    assert await ann.listing() == expected  # and the list shows it
    event = await ann.last_event()
    assert (event["action"], event["source"], event["topic"] or None) == (
        "opt_out", source, topic)
    assert await ann.status(topic) == "opted_out"
    # a repeat from the same source changes nothing
    await stop(ann, port)
    assert await ann.sync() == []


# -- the sources of a resume ------------------------------------------------------------------
async def undo(p: Person, done_page: str) -> None:
    response = await p.client.post(f"/u/{p.token('unsubscribe')}/undo",
                                   data={"_csrf_token": form_value(done_page, "_csrf_token")})
    assert response.status_code == 200 and "You are subscribed again" in response.text


async def centre_on(p: Person, done_page: str) -> None:
    await centre_switch(p, f"topic.email.{NEWS}", on=True)


async def put_on(p: Person, done_page: str) -> None:
    await put_preference(p, "opted_in")


async def double_opt_in(p: Person, done_page: str) -> None:
    signup = await p.client.post("/v1/subscriptions", headers=p.writer, json={
        "channel": "email", "address": ANN, "topics": [NEWS], "wording_version": "signup-v3"})
    assert signup.status_code == 202 and signup.json()["pending"] == [NEWS], signup.text
    address_id = await p.db.fetchval("SELECT id FROM address WHERE address_key = $1", p.key(ANN))
    url = f"/c/{p.token('confirm', ALL_TOPICS, extra=str(address_id))}"
    page = await p.client.get(url)
    done = await p.client.post(url, data={"_csrf_token": csrf_token(page.text), "topic": NEWS})
    assert done.status_code == 200 and "Subscription confirmed" in done.text


RESUMES = [
    ("unsubscribe_page", undo, "opt_in", [ANN, ANN_WORK]),
    ("preference_centre", centre_on, "opt_in", [ANN, ANN_WORK]),
    ("api", put_on, "opt_in", [ANN, ANN_WORK]),
    # confirming proves control of the address the email went to, so only its own is lifted
    ("double_opt_in", double_opt_in, "confirmed", [ANN]),
]


@pytest.mark.parametrize("source, resume, action, lifted", RESUMES,
                         ids=[r[1].__name__ for r in RESUMES])
async def test_an_opt_in_from_any_source_lifts_exactly_its_unsubscribes(ann, source, resume,
                                                                        action, lifted):
    others = {("email", ann.key(ANN), None, "complaint"),
              ("email", ann.key(ANN_WORK), None, "hard_bounce"),
              ("email", ann.key(ANN), "offers", "unsubscribed"),
              ("sms", ann.key(PHONE, "sms"), None, "unsubscribed")}
    async with ann.db.transaction() as tx:
        for channel, key, topic, reason in others:
            await add_suppression(tx, channel=channel, address_key=key, topic=topic,
                                  reason=reason, source="test", contact_id=ann.id)
    done_page = await page_button(ann, None)
    await ann.sync()
    assert ann.held == others | {("email", ann.key(a), NEWS, "unsubscribed")
                                 for a in (ANN, ANN_WORK)}

    await resume(ann, done_page)
    new = await ann.sync()
    assert sorted((e["op"], e["reason"], e["topic"], e["address_key"]) for e in new) == sorted(
        ("removed", "unsubscribed", NEWS, ann.key(a)) for a in lifted)
    remaining = others | {("email", ann.key(a), NEWS, "unsubscribed")
                          for a in (ANN, ANN_WORK) if a not in lifted}
    assert ann.held == remaining
    assert await ann.listing() == remaining
    event = await ann.last_event()
    assert (event["action"], event["source"], event["topic"]) == (action, source, NEWS)
    assert await ann.status(NEWS) == "opted_in"


# -- the function itself ----------------------------------------------------------------------
async def test_an_esp_unsubscribe_of_an_address_nobody_holds_is_a_suppression_only(ann):
    event = sample("mailgun-unsubscribed.json")  # recipient@example.com: no contact holds it
    response = await ann.client.post("/v1/webhooks/mailgun",
                                     json=mailgun_signed(event, uuid.uuid4().hex * 2))
    assert response.json()["suppressed"] == 1
    await ann.sync()
    assert ann.held == {("email", ann.key("recipient@example.com"), None, "unsubscribed")}
    assert await ann.db.fetchval("SELECT COUNT(*) FROM consent_event") == 0


async def test_a_stop_and_resume_without_a_contact_touch_only_the_suppression(ann):
    """What an SMS STOP / START from a number nobody holds will do."""
    key = ann.key("+44 7911 123456", "sms")
    proof = Proof(source="api")
    async with ann.db.transaction() as tx:
        stopped = await apply_choice(tx, stop=True, channel="sms", topic=None, proof=proof,
                                     address_keys=[key])
    assert stopped.suppressions == 1 and not stopped.preference
    await ann.sync()
    assert ann.held == {("sms", key, None, "unsubscribed")}
    async with ann.db.transaction() as tx:
        await add_suppression(tx, channel="sms", address_key=key, reason="complaint",
                              source="test")
        assert await apply_choice(tx, stop=False, channel="sms", topic=None, proof=proof,
                                  address_keys=[key])
        assert not await apply_choice(tx, stop=False, channel="sms", topic=None, proof=proof,
                                      address_keys=[key])  # a repeat writes nothing
    await ann.sync()
    assert ann.held == {("sms", key, None, "complaint")}
    assert await ann.db.fetchval("SELECT COUNT(*) FROM consent_event") == 0


async def test_a_rolled_back_opt_out_writes_and_counts_nothing(ann):
    def counted() -> float:
        return REGISTRY.get_sample_value("prefs_unsubscribes_total", {"source": "api"}) or 0

    before_count = counted()
    with pytest.raises(RuntimeError):
        async with ann.db.transaction() as tx:
            assert await apply_choice(tx, stop=True, contact_id=ann.id, channel="email",
                                      topic=NEWS, proof=Proof(source="api"))
            raise RuntimeError("the request failed after the write")
    assert counted() == before_count
    assert await ann.sync() == [] and await ann.status(NEWS) is None
    async with ann.db.transaction() as tx:
        await apply_choice(tx, stop=True, contact_id=ann.id, channel="email", topic=NEWS,
                           proof=Proof(source="api"))
    assert counted() == before_count + 1  # counted once committed

