"""Address normalization: the issue's cases, and properties over many spellings.

Pure functions, no database: the API tests show the same through HTTP on both engines."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.contacts.normalize import (
    AddressError,
    AddressKeyer,
    _normalize_email_slow,
    normalize,
    normalize_email,
)

KEYER = AddressKeyer("test-hash-key-0123456789")


def key(channel: str, raw: str, region: str = "GB") -> str:
    return KEYER.parse(channel, raw, region)[1]


@pytest.mark.parametrize("spelling", [
    "Foo@EXAMPLE.com", " foo@example.com ", "FOO@example.COM", "\tfoo@Example.Com\n"])
def test_email_spellings_share_one_key(spelling):
    assert key("email", spelling) == key("email", "foo@example.com")


def test_email_keeps_the_local_part_as_given_but_lowercases_the_domain():
    assert normalize("email", " Foo@EXAMPLE.com ") == "Foo@example.com"


def test_unicode_domains_match_their_idna_form():
    assert normalize("email", "foo@bücher.example") == "foo@xn--bcher-kva.example"
    assert key("email", "foo@bücher.example") == key("email", "foo@xn--bcher-kva.example")
    assert key("email", "foo@BÜCHER.example") == key("email", "foo@xn--bcher-kva.example")


def test_unicode_forms_nfc_and_nfd_share_one_key():
    composed = "josé@bücher.example"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert key("email", composed) == key("email", decomposed)


def test_national_and_international_phone_numbers_share_one_key():
    assert normalize("sms", "+44 20 7946 0958") == "+442079460958"
    assert normalize("sms", "020 7946 0958") == "+442079460958"
    assert key("phone", "+44 20 7946 0958") == key("phone", "020 7946 0958", "GB")
    # sms, phone and fax share a family: the same number has the same key on each channel
    assert key("sms", "020 7946 0958") == key("fax", "+442079460958")


def test_the_default_region_decides_numbers_without_a_country_code():
    assert normalize("phone", "(202) 555-0143", "US") == "+12025550143"
    with pytest.raises(AddressError):
        normalize("phone", "(202) 555-0143", "GB")


def test_postal_keys_ignore_case_spacing_and_postcode_format():
    a = normalize("post", "10 Downing Street,  London, SW1A 2AA")
    b = normalize("post", "10 downing street\nLONDON\nsw1a2aa")
    assert a == b == "10 downing street, london, SW1A2AA"


@pytest.mark.parametrize(("channel", "raw"), [
    ("email", "not-an-address"), ("email", "ann@"), ("email", ""), ("email", "a@b@c.com"),
    ("email", "ann@example.invalid"), ("sms", "12"), ("phone", "call me"), ("fax", ""),
    ("post", "just one line"), ("email", "x" * 2000), ("pigeon", "coo"),
])
def test_bad_addresses_are_refused_with_a_message(channel, raw):
    with pytest.raises(AddressError) as caught:
        normalize(channel, raw)
    assert str(caught.value)


# -- properties ------------------------------------------------------------------------------
LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "+_-", min_size=1, max_size=20)
LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12)
TLD = st.sampled_from(["com", "org", "co.uk", "example", "de", "museum"])
UNICODE_LOCAL = st.text(alphabet="abcdeéèüñøçåßあ日", min_size=1, max_size=12)
UNICODE_LABEL = st.text(alphabet="abcdeéüñøçå", min_size=1, max_size=12)


def recase(draw, text: str) -> str:
    """A case variant: characters whose case can be flipped and flipped back (so not 'ß',
    whose upper case is 'SS', a different mailbox)."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip and c.swapcase().lower() == c.lower() else c
                   for c, flip in zip(text, flips, strict=True))


@st.composite
def ascii_spellings(draw):
    address = f"{draw(LOCAL)}@{draw(LABEL)}.{draw(TLD)}"
    pad = draw(st.sampled_from(["", " ", "  ", "\t", "\n"]))
    return address, pad + recase(draw, address) + draw(st.sampled_from(["", " ", "\r\n"]))


@given(ascii_spellings())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_every_case_and_padding_of_an_email_maps_to_one_key(pair):
    address, spelling = pair
    assert key("email", spelling) == key("email", address)


@st.composite
def unicode_spellings(draw):
    local, label = draw(UNICODE_LOCAL), draw(UNICODE_LABEL)
    address = unicodedata.normalize("NFC", f"{local}@{label}.example")
    form = draw(st.sampled_from(["NFC", "NFD"]))
    spelled = unicodedata.normalize(form, recase(draw, local)) + "@" + \
        unicodedata.normalize(form, recase(draw, label)) + ".EXAMPLE"
    return address, spelled


@given(unicode_spellings())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_every_unicode_form_and_case_of_an_email_maps_to_one_key(pair):
    address, spelling = pair
    try:
        expected = key("email", address)
    except AddressError:
        assume(False)  # not every generated string is a valid address
    assert key("email", spelling) == expected


EMAILISH = st.text(alphabet=string.ascii_letters + string.digits + ".-_+@!#'`~ ", max_size=40)


def outcome(fn, value):
    try:
        return fn(value)
    except AddressError:
        return AddressError


@given(st.one_of(st.emails(), EMAILISH, ascii_spellings().map(lambda p: p[1])))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_the_fast_ascii_path_agrees_with_email_validator(raw):
    assert outcome(normalize_email, raw) == outcome(_normalize_email_slow, raw.strip())


@given(st.lists(st.one_of(st.emails(), EMAILISH, ascii_spellings().map(lambda p: p[1]),
                          st.just("a--b@example.com"), st.just("x@a--b.example"),
                          st.just("someone@host.localhost"), st.just(" Pad@Example.COM\t")),
                max_size=20))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_the_fused_email_path_gives_what_the_full_path_gives(raws):
    """`fast_email()` (behind `parse()` and the bulk check's keys) agrees with normalizing
    first and keying the normalized form, or leaves the item to that path."""
    for raw, fused, fast in zip(raws, KEYER.email_keys(raws), map(KEYER.fast_email, raws),
                                strict=True):
        if fast is None:
            assert fused is None
            continue
        normalized = normalize_email(raw)
        assert fast == (normalized, KEYER.key("email", normalized)), raw
        assert fused == fast[1]


def test_the_bulk_email_keys_take_the_fused_path_only_for_the_common_shape():
    common = ["ann@example.com", " Bob.Smith+news@Mail.Example.co.uk ", "o'neil@example.org"]
    assert KEYER.email_keys(common) == [key("email", raw) for raw in common]
    left = ["a--b@xn--bcher-kva.example", "x@host.localhost", "foo@bücher.example", 42,
            "not an address", "a" * 64]
    assert KEYER.email_keys(left) == [None] * len(left)


@given(st.sampled_from(["+44 20 7946 0958", "020 7946 0958", "020-7946-0958",
                        "(020) 7946 0958", "+44 (0)20 7946 0958", "0044 20 7946 0958"]))
def test_phone_spellings_map_to_one_key(spelling):
    assert key("sms", spelling) == key("sms", "+442079460958")
