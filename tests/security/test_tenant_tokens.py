"""Recipient tokens of tenants (issue 18): the default tenant's are the tokens signed before
tenants existed, byte for byte; another tenant's carry `t{id}~`, are signed with a key ring
derived for it, and verify with that tenant's signer only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from service.security.tokens import BadToken, TokenData, TokenSigner, tenant_keys, tenant_of

KEYS = ["old-key-0123456789abcdef", "new-key-0123456789abcdef"]
DATA = TokenData("5f0c6a8e-1111-4c2a-9d4e-0123456789ab", "email", "news", "spring")


def test_default_tenant_tokens_are_the_tokens_of_before():
    stock = URLSafeSerializer(KEYS[-1], salt="unsubscribe").dumps(
        [DATA.contact_id, DATA.channel, DATA.topic, DATA.campaign])
    signer = TokenSigner(KEYS)
    assert signer.sign("unsubscribe", DATA) == stock
    assert TokenSigner(KEYS, tenant_id=1).verify("unsubscribe", stock) == DATA
    assert tenant_of(stock) == 1


def test_another_tenants_token_names_it_and_verifies_only_there():
    b, c = TokenSigner(KEYS, tenant_id=2), TokenSigner(KEYS, tenant_id=3)
    token = b.sign("unsubscribe", DATA)
    assert token.startswith("t2~") and tenant_of(token) == 2
    assert b.verify("unsubscribe", token) == DATA
    assert b.sign_fields("unsubscribe", DATA.contact_id, "email", "news", "spring") == token
    for other in (TokenSigner(KEYS), c):
        with pytest.raises(BadToken):
            other.verify("unsubscribe", token)
    # the prefix changed to another tenant: that tenant's signer refuses it
    with pytest.raises(BadToken):
        c.verify("unsubscribe", "t3~" + token[3:])
    # the default tenant's token under tenant 2's prefix, and tenant 2's without it
    with pytest.raises(BadToken):
        b.verify("unsubscribe", "t2~" + TokenSigner(KEYS).sign("unsubscribe", DATA))
    with pytest.raises(BadToken):
        TokenSigner(KEYS).verify("unsubscribe", token[3:])


def test_every_purpose_of_a_tenant_round_trips():
    signer = TokenSigner(KEYS, tenant_id=9)
    for purpose in ("unsubscribe", "preferences", "confirm", "privacy"):
        assert signer.verify(purpose, signer.sign(purpose, DATA)) == DATA


def test_rotating_secret_keys_keeps_a_tenants_links():
    before = TokenSigner(KEYS[:1], tenant_id=4).sign("preferences", DATA)
    after = TokenSigner(KEYS, tenant_id=4)  # a key appended: the newest signs, all verify
    assert after.verify("preferences", before) == DATA
    assert after.sign("preferences", DATA) != before
    assert tenant_keys(KEYS, 4)[0] == tenant_keys(KEYS[:1], 4)[0]
    assert tenant_keys(KEYS, 4) != tenant_keys(KEYS, 5) and tenant_keys(KEYS, 1) == KEYS


@pytest.mark.parametrize("token", ["t~abc.def", "x2~abc.def", "t02~abc.def", "t2a~abc.def",
                                   "t123456789012~abc.def"])
def test_a_malformed_prefix_is_a_bad_token(token):
    with pytest.raises(BadToken):
        tenant_of(token)


@given(st.integers(2, 10**6), st.text(min_size=1, max_size=40))
def test_any_tenant_round_trips_and_no_other_verifies(tenant_id, campaign):
    data = TokenData("c1", "sms", "*", campaign)
    token = TokenSigner(KEYS, tenant_id=tenant_id).sign("unsubscribe", data)
    assert tenant_of(token) == tenant_id
    assert TokenSigner(KEYS, tenant_id=tenant_id).verify("unsubscribe", token) == data
    with pytest.raises(BadToken):
        TokenSigner(KEYS, tenant_id=tenant_id + 1).verify("unsubscribe", token)
