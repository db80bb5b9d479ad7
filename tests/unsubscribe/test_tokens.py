"""The token format: stock itsdangerous tokens, a salt per purpose, a key ring; and tokens that
survive being an email local part."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from service.security.tokens import BadToken, TokenData, TokenSigner
from service.unsubscribe.inbound import token_candidates
from service.unsubscribe.links import mailto_uri

KEYS = ["old-secret-key-0123456789", "new-secret-key-0123456789"]
# RFC 5321/5322 dot-atom: atext runs separated by single dots
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
DOT_ATOM = re.compile(rf"{ATEXT}(?:\.{ATEXT})*")

texts = st.text(max_size=60)


@settings(max_examples=200, deadline=None)
@given(contact=texts, channel=texts, topic=texts, campaign=texts)
def test_fast_signing_is_exactly_itsdangerous(contact, channel, topic, campaign):
    signer = TokenSigner(KEYS)
    payload = [contact, channel, topic, campaign]
    token = signer.sign("unsubscribe", TokenData(*payload))
    assert token == signer.sign_fields("unsubscribe", *payload)
    stock = URLSafeSerializer(KEYS, salt="unsubscribe")
    assert stock.loads(token) == payload  # stock itsdangerous verifies it
    if not stock.dumps(payload).startswith("."):  # stock compresses when that is shorter
        assert token == stock.dumps(payload)
    assert signer.verify("unsubscribe", token) == TokenData(*payload)


def test_salt_per_purpose_and_key_ring():
    old, rotated, new = TokenSigner(KEYS[:1]), TokenSigner(KEYS), TokenSigner(KEYS[1:])
    data = TokenData(uuid.uuid4().hex, "email", "newsletter", "spring")
    old_token = old.sign("unsubscribe", data)
    assert rotated.verify("unsubscribe", old_token) == data  # all keys verify
    new_token = rotated.sign("unsubscribe", data)
    assert new.verify("unsubscribe", new_token) == data  # the newest key signs
    with pytest.raises(BadToken):
        new.verify("unsubscribe", old_token)  # a removed key's links stop working
    with pytest.raises(BadToken):
        rotated.verify("preferences", new_token)  # another purpose
    preferences = rotated.sign("preferences", data)
    with pytest.raises(BadToken):
        rotated.verify("unsubscribe", preferences)
    with pytest.raises(BadToken) as caught:
        rotated.verify("unsubscribe", new_token[:-1])
    assert new_token[:-1] not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(campaign=st.text(max_size=200), topic=st.sampled_from(["*", "newsletter", "a.b-c_d"]))
def test_tokens_fit_an_email_local_part(campaign, topic):
    token = TokenSigner(KEYS).sign("unsubscribe",
                                   TokenData(uuid.uuid4().hex, "email", topic, campaign))
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)  # no '..', no leading '.'
    uri = mailto_uri("unsubscribe", "prefs.example.com", token)
    address = uri.removeprefix("mailto:").split("?")[0]
    assert len(address) <= 254
    local = address.rpartition("@")[0]
    assert DOT_ATOM.fullmatch(local)
    if local != "unsubscribe":
        assert token_candidates([address], "")[0] == token
    # the subject always carries it, whatever a relay does to the local part
    assert token in token_candidates([address.lower()], f"unsubscribe {token}")


def test_compressed_tokens_also_fit_a_local_part():
    """Links signed by stock itsdangerous may be compressed (leading '.'): still a dot-atom."""
    payload = [uuid.uuid4().hex, "email", "*", "spring-" * 20]
    token = URLSafeSerializer(KEYS, salt="unsubscribe").dumps(payload)
    assert token.startswith(".")
    assert DOT_ATOM.fullmatch(f"unsubscribe+{token}")
    assert token_candidates([f"unsubscribe+{token}@x.example"], "") == [token]
    assert TokenSigner(KEYS).verify("unsubscribe", token).campaign == payload[3]
