"""The canonical content an event's hash is taken over: one fixed text per event, the same as
the JSON object of its fields with sorted keys (docs/privacy.md), so chains written by an
earlier release, and by either engine, keep verifying."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.consent import chain

KEY = "a-hash-key-of-thirty-two-characters!"
EVENT = {"contact_id": "c_7", "address_key": "ab" * 32, "channel": "email",
         "topic": "newsletter", "action": "opt_in", "source": "preference_centre",
         "occurred_at": "2026-12-07 04:46:24.521665", "ip": "203.0.113.9",
         "user_agent": "Mozilla/5.0 (X11) Firefox/133.0", "wording_version": "2026-11 «v2»",
         "campaign": "spring", "message_ref": None, "api_key_id": 12,
         "detail": '{"b": 1, "a": "ü"}'}


@pytest.fixture(autouse=True)
def _restore_key():
    """These tests set their own digest key; the process's writers keep theirs."""
    key = chain._key
    yield
    chain._key, chain._last_detail = key, (None, "")


def reference_content(event: dict) -> str:
    """The definition: the kept fields, digests, link and version as a JSON object, sorted
    keys, no spaces, ASCII."""
    body = {name: event[name] for name in chain.KEPT}
    body["occurred_at"] = chain.canonical_time(event["occurred_at"])
    if body["api_key_id"] is not None:
        body["api_key_id"] = int(body["api_key_id"])
    for name in ("ip_digest", "user_agent_digest", "detail_digest", "prev_hash"):
        body[name] = event[name]
    body["v"] = chain.FORMAT
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def test_a_known_event_seals_to_the_hash_the_first_release_wrote():
    """A fixed vector, computed by the chain's first implementation (2026-12-06): a change of
    the canonical form would make every stored chain fail `ledger verify`."""
    chain.use_hash_key(KEY)
    sealed = chain.seal(EVENT, "f" * 64)
    assert sealed.ip_digest == "638b849a7f47a329328d7fd720f5f8445fed2981c6a169f4be66f3e132bf0f1c"
    assert sealed.detail_digest == (
        "da8175efd1f2cc637701ae3501184e623c47c879a7cc8955e6f39a4a484517d6")
    assert sealed.hash == "dc537cc5310a9498efc2e2480a74fbb528863e5c8082e3edb9415050f45544a5"
    stored = {**EVENT, **{name: getattr(sealed, name) for name in chain.CHAIN_COLUMNS}}
    assert chain.check(stored, "f" * 64) is None


text = st.one_of(st.none(), st.text(max_size=40))
times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), None]))


@settings(max_examples=300, deadline=None)
@given(contact_id=st.text(min_size=1, max_size=30), address_key=text, topic=st.text(max_size=20),
       wording_version=text, campaign=text, message_ref=text, source=st.text(max_size=20),
       api_key_id=st.one_of(st.none(), st.integers(0, 2**40)), occurred_at=times,
       digests=st.lists(st.one_of(st.none(), st.text(alphabet="0123456789abcdef",
                                                     min_size=64, max_size=64)),
                        min_size=4, max_size=4))
def test_the_content_is_the_sorted_json_object_of_the_fields(contact_id, address_key, topic,
                                                             wording_version, campaign,
                                                             message_ref, source, api_key_id,
                                                             occurred_at, digests):
    event = {"contact_id": contact_id, "address_key": address_key, "channel": "sms",
             "topic": topic, "action": "opt_out", "source": source, "occurred_at": occurred_at,
             "wording_version": wording_version, "campaign": campaign,
             "message_ref": message_ref, "api_key_id": api_key_id,
             "ip_digest": digests[0], "user_agent_digest": digests[1],
             "detail_digest": digests[2], "prev_hash": digests[3]}
    assert chain.content(event) == reference_content(event)
    # The same time as text (how SQLite hands it back) gives the same content.
    as_text = {**event, "occurred_at": chain.canonical_time(occurred_at)}
    assert chain.content(as_text) == chain.content(event)


def test_a_detail_is_digested_under_the_key_in_use_and_by_its_own_text():
    """Events of a batch share one detail (its digest is remembered): another detail, or the
    same one under another key, gets its own digest."""
    chain.use_hash_key(KEY)
    first = chain.field_digest("detail", EVENT["detail"])
    assert chain.field_digest("detail", '{"a": "ü", "b": 1}') == first  # same canonical text
    assert chain.field_digest("detail", '{"a": "ü", "b": 2}') != first
    chain.use_hash_key(KEY + "-rotated")
    assert chain.field_digest("detail", EVENT["detail"]) != first
    chain.use_hash_key(KEY)
    assert chain.field_digest("detail", EVENT["detail"]) == first
