"""Token parsing under hostile input (hypothesis): arbitrary strings and every kind of mutation of
a genuine token never verify, and nothing but BadToken ever comes out of `verify`.

tests/unsubscribe/test_tokens.py shows the format (stock itsdangerous, salt per purpose, key
ring); this file is about what an attacker can send.
"""

from __future__ import annotations

import string
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from service.security.tokens import (
    MAX_TOKEN_LENGTH,
    PURPOSES,
    TIMED_PURPOSES,
    BadToken,
    TokenData,
    TokenSigner,
)

KEYS = ["old-secret-key-0123456789", "new-secret-key-0123456789"]
SIGNER = TokenSigner(KEYS)
URLSAFE = string.ascii_letters + string.digits + "-_"
# what a token is made of, plus what a mangling mail client or an attacker adds
TOKENISH = URLSAFE + ".=+/ %~!\x00\n"
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

ids = st.one_of(st.uuids().map(lambda u: u.hex), st.text(max_size=40))
datas = st.builds(TokenData, contact_id=ids,
                  channel=st.sampled_from(["email", "sms", "phone", "fax", "post"]),
                  topic=st.one_of(st.just("*"), st.text(URLSAFE, min_size=1, max_size=20)),
                  campaign=st.text(max_size=40),
                  extra=st.sampled_from(["", "download", "delete", "42"]))


def refused(purpose: str, token) -> bool:
    """True when `verify` refuses with BadToken; any other exception fails the test."""
    try:
        SIGNER.verify(purpose, token)
    except BadToken as exc:
        assert exc.args == (purpose,)  # the purpose only, never the token
        return True
    return False


@SETTINGS
@given(purpose=st.sampled_from(PURPOSES),
       token=st.one_of(st.text(max_size=300), st.text(TOKENISH, max_size=300),
                       st.binary(max_size=100).map(lambda b: b.decode("latin-1"))))
def test_arbitrary_strings_never_verify(purpose, token):
    assert refused(purpose, token)


@pytest.mark.parametrize("token", [None, 42, b"bytes", ["a.b"], "", ".", "..", "a.b.c.d",
                                   "A" * (MAX_TOKEN_LENGTH + 1)])
@pytest.mark.parametrize("purpose", PURPOSES)
def test_non_tokens_and_overlong_input_are_bad_tokens(purpose, token):
    assert refused(purpose, token)


@st.composite
def mutated(draw):
    """(purpose, genuine token, mutation name, mutated token): the mutated token differs."""
    purpose = draw(st.sampled_from(PURPOSES))
    data = draw(datas)
    token = SIGNER.sign(purpose, data)
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "insert", "delete", "swap",
                                 "case", "pad"]))
    at = draw(st.integers(0, len(token) - 1))
    if kind == "flip":
        new = draw(st.sampled_from(URLSAFE + ".").filter(lambda c: c != token[at]))
        out = token[:at] + new + token[at + 1:]
    elif kind == "truncate":
        out = token[:at]
    elif kind == "extend":
        out = token + draw(st.text(TOKENISH, min_size=1, max_size=20))
    elif kind == "insert":
        out = token[:at] + draw(st.text(TOKENISH, min_size=1, max_size=5)) + token[at:]
    elif kind == "delete":
        out = token[:at] + token[at + 1 + draw(st.integers(0, 5)):]
    elif kind == "swap":
        other = draw(st.integers(0, len(token) - 1))
        chars = list(token)
        chars[at], chars[other] = chars[other], chars[at]
        out = "".join(chars)
    elif kind == "case":
        out = token[:at] + token[at].swapcase() + token[at + 1:]
    else:  # base64 padding, which decoding alone would ignore
        out = token + "=" * draw(st.integers(1, 3))
    return purpose, token, kind, out


@SETTINGS
@given(mutated())
def test_mutations_of_a_genuine_token_never_verify(case):
    purpose, token, kind, out = case
    assert SIGNER.verify(purpose, token) is not None  # the genuine one works
    if out != token:
        assert refused(purpose, out), (kind, token, out)


@SETTINGS
@given(data=datas, purpose=st.sampled_from(PURPOSES), other=st.sampled_from(PURPOSES))
def test_a_token_of_one_purpose_never_verifies_as_another(data, purpose, other):
    token = SIGNER.sign(purpose, data)
    if other != purpose:
        assert refused(other, token)


@SETTINGS
@given(data=datas, purpose=st.sampled_from(PURPOSES),
       key=st.text(min_size=1, max_size=40).filter(lambda k: k not in KEYS))
def test_tokens_signed_with_another_key_never_verify(data, purpose, key):
    payload = [data.contact_id, data.channel, data.topic, data.campaign]
    if data.extra:
        payload.append(data.extra)
    serializer = (URLSafeTimedSerializer if purpose in TIMED_PURPOSES else URLSafeSerializer)
    forged = serializer(key, salt=purpose).dumps(payload)
    assert refused(purpose, forged)
    assert refused(purpose, TokenSigner([key]).sign(purpose, data))


@SETTINGS
@given(victim=ids, attacker=ids, purpose=st.sampled_from(PURPOSES))
def test_swapping_in_another_contacts_id_breaks_the_signature(victim, attacker, purpose):
    """The attacker holds a genuine link for themselves and splices another contact's id into
    its payload (or another genuine token's payload onto their signature)."""
    if victim == attacker:
        return
    mine = SIGNER.sign(purpose, TokenData(attacker, "email", "*", "spring"))
    theirs = SIGNER.sign(purpose, TokenData(victim, "email", "*", "spring"))
    payload_theirs, rest_mine = theirs.split(".", 1)[0], mine.split(".", 1)[1]
    assert refused(purpose, payload_theirs + "." + rest_mine)
    forged_payload = URLSafeSerializer("x").dump_payload(
        [victim, "email", "*", "spring"]).decode()
    assert refused(purpose, forged_payload + "." + rest_mine)


def test_payloads_of_the_wrong_shape_signed_with_the_real_key_are_refused():
    """Defence in depth: even our own key over a payload that is not [str x 4..5] is refused."""
    for purpose in PURPOSES:
        serializer = (URLSafeTimedSerializer if purpose in TIMED_PURPOSES
                      else URLSafeSerializer)(KEYS[-1], salt=purpose)
        for payload in ({"contact": "x"}, "x", 1, None, [], ["a"] * 3, ["a"] * 6,
                        ["a", "b", "c", 4], [uuid.uuid4().hex, "email", "*", None]):
            assert refused(purpose, serializer.dumps(payload)), (purpose, payload)
