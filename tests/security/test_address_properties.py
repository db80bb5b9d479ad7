"""Address normalization under hostile input, on every channel (hypothesis): nothing but
AddressError comes out, and normalizing a normalized address changes nothing (same form, same
key). tests/contacts/test_normalize.py covers spellings that must share a key and the agreement
of the email fast path with email-validator; this file adds arbitrary input and idempotence.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.contacts.normalize import CHANNELS, MAX_INPUT, AddressError, AddressKeyer

KEYER = AddressKeyer("test-hash-key-0123456789")
REGIONS = st.sampled_from(["GB", "US", "DE", "FR", "IN", "gb", "ZZ", "", "XX"])
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

PHONEISH = st.text(string.digits + "+-() .x#*/ext\u00a0\u0660\u0661\uff11", max_size=30)
EMAILISH = st.one_of(
    st.emails().map(str),
    st.text(string.ascii_letters + string.digits + "@.-_+\"\\ ()[]:;,<>!#'`~", max_size=60),
    st.builds(lambda local, domain: f"{local}@{domain}",
              st.text(max_size=20), st.text(max_size=20)),
)
POSTISH = st.one_of(
    st.text(max_size=120),
    st.lists(st.text(max_size=25), min_size=1, max_size=6).map(", ".join),
    st.builds(lambda street, town, code: f"{street}\n{town} {code}", st.text(max_size=20),
              st.text(max_size=15), st.text(string.ascii_letters + string.digits + " ßﬀ²",
                                            max_size=10)),
    # a short last part with a digit: the shapes the postcode rules look at
    st.builds(lambda street, code: f"{street}, {code}", st.text(max_size=15),
              st.text(string.ascii_letters[:6] + "SWAsw" + string.digits[:4] + " ßﬀΐǰİ²",
                      min_size=1, max_size=12)),
)
ANY_TEXT = st.one_of(st.text(max_size=200), st.text(string.printable, max_size=200))


def parse(channel: str, raw, region: str = "GB"):
    """(normalized, key), or None for AddressError; any other exception fails the test."""
    try:
        return KEYER.parse(channel, raw, region)
    except AddressError as exc:
        assert str(exc), "an AddressError says what is wrong"
        return None


@SETTINGS
@given(channel=st.sampled_from(CHANNELS), raw=ANY_TEXT, region=REGIONS)
def test_arbitrary_text_raises_only_address_error(channel, raw, region):
    parse(channel, raw, region)


@pytest.mark.parametrize("raw", [None, 42, b"ann@example.com", ["ann@example.com"],
                                 "x" * (MAX_INPUT + 1), "\x00", "ann\x00@example.com"])
@pytest.mark.parametrize("channel", [*CHANNELS, "pigeon", ""])
def test_non_text_unknown_channels_and_overlong_input(channel, raw):
    assert parse(channel, raw) is None


def assert_idempotent(channel: str, raw: str, region: str = "GB") -> None:
    first = parse(channel, raw, region)
    if first is None:
        return
    normalized, key = first
    again = parse(channel, normalized, region)
    assert again is not None, f"{channel}: {normalized!r} (from {raw!r}) is refused"
    assert again == (normalized, key), f"{channel}: {raw!r} -> {normalized!r} -> {again[0]!r}"


@SETTINGS
@given(raw=EMAILISH)
@example("\"quoted local\"@example.com")
@example("José.Ñandú@Bücher.Example")
@example("a@xn--bcher-kva.example")
def test_email_normalization_is_idempotent(raw):
    assert_idempotent("email", raw)


@SETTINGS
@given(channel=st.sampled_from(["sms", "phone", "fax"]), raw=PHONEISH, region=REGIONS)
@example("sms", "020 7946 0958", "GB")
@example("phone", "(202) 555-0143", "US")
def test_phone_normalization_is_idempotent(channel, raw, region):
    assert_idempotent(channel, raw, region)


@SETTINGS
@given(raw=POSTISH)
@example("10 Downing Street, London SW1A 2AA")
@example("Hauptstraße 1\nßßßßßßß1")  # a postcode that grows when upper-cased
def test_postal_normalization_is_idempotent(raw):
    assert_idempotent("post", raw)


@SETTINGS
@given(channel=st.sampled_from(CHANNELS), raw=ANY_TEXT)
def test_keys_are_fixed_length_hex_and_never_the_address(channel, raw):
    parsed = parse(channel, raw)
    if parsed is not None:
        normalized, key = parsed
        assert len(key) == 64 and set(key) <= set("0123456789abcdef")
        assert normalized not in key
