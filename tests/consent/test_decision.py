"""Each rule of the send decision, with its reason, over rows written by the real writers
and read back by `lookup_state` (one query), on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.consent.conftest import ACCOUNT, NEWSLETTER, OFFERS, PRODUCT, SERVICE_NEWS

HARD = ["hard_bounce", "invalid", "erased"]
SOFT = ["complaint", "unsubscribed", "manual", "external_list"]


@pytest.mark.parametrize("reason", HARD)
async def test_hard_suppressions_block_everything_even_transactional(world, reason):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    await world.suppress(reason)
    assert await world.reasons(ACCOUNT) == [reason]
    assert await world.reasons(None) == [reason]
    assert await world.reasons(PRODUCT) == [reason]
    assert await world.reasons(NEWSLETTER) == [reason]


@pytest.mark.parametrize("reason", HARD)
async def test_a_hard_suppression_on_a_topic_still_blocks_everything(world, reason):
    await world.suppress(reason, topic="offers")
    assert await world.reasons(ACCOUNT) == [reason]


@pytest.mark.parametrize("reason", SOFT)
async def test_whole_channel_soft_suppressions_block_all_but_transactional(world, reason):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    await world.suppress(reason)
    assert await world.reasons(NEWSLETTER) == [reason]
    assert await world.reasons(PRODUCT) == [reason]
    assert await world.reasons(None) == [reason]
    assert await world.reasons(ACCOUNT) == []


@pytest.mark.parametrize("reason", SOFT)
async def test_topic_soft_suppressions_block_only_that_topic(world, reason):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    await world.suppress(reason, topic="offers")
    assert await world.reasons(OFFERS) == [reason, "no_consent"]
    assert await world.reasons(NEWSLETTER) == []
    assert await world.reasons(None) == []  # the channel as a whole is still open
    assert await world.reasons(ACCOUNT) == []


async def test_suppressions_are_per_channel(world):
    await world.suppress("hard_bounce", channel="sms", address="+447911123456")
    assert await world.reasons(None, "sms", "07911 123456") == ["hard_bounce"]
    assert await world.reasons(None, "phone", "+447911123456") == []


async def test_opt_out_of_the_whole_channel_blocks_marketing_not_transactional(world):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    await world.prefer(contact, "opt_out")
    assert await world.reasons(NEWSLETTER) == ["opted_out"]
    assert await world.reasons(PRODUCT) == ["opted_out"]
    assert await world.reasons(None) == ["opted_out"]
    assert await world.reasons(ACCOUNT) == []


async def test_opt_out_of_a_topic_blocks_only_that_topic(world):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    await world.prefer(contact, "opt_out", "product-updates")
    assert await world.reasons(PRODUCT) == ["opted_out"]
    assert await world.reasons(NEWSLETTER) == []
    assert await world.reasons(None) == []


async def test_a_pause_blocks_until_it_ends_and_resume_lifts_it(world):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    later = datetime.now(UTC) + timedelta(days=30)
    await world.prefer(contact, "paused", paused_until=later)
    assert await world.reasons(NEWSLETTER) == ["paused"]
    assert await world.reasons(None) == ["paused"]
    assert await world.reasons(ACCOUNT) == []
    await world.prefer(contact, "resumed")
    assert await world.reasons(NEWSLETTER) == []


async def test_a_pause_in_the_past_no_longer_blocks(world):
    contact = await world.contact()
    await world.prefer(contact, "paused", "product-updates",
                       paused_until=datetime.now(UTC) - timedelta(minutes=1))
    assert await world.reasons(PRODUCT) == []


async def test_a_topic_pause_blocks_only_that_topic(world):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    await world.prefer(contact, "paused", "offers",
                       paused_until=datetime.now(UTC) + timedelta(days=1))
    assert await world.reasons(OFFERS) == ["paused", "no_consent"]
    assert await world.reasons(NEWSLETTER) == []


async def test_consent_topics_need_an_opt_in_to_that_topic(world):
    contact = await world.contact()
    assert await world.reasons(NEWSLETTER) == ["no_consent"]
    await world.prefer(contact, "opt_in")  # the whole channel is not this topic
    assert await world.reasons(NEWSLETTER) == ["no_consent"]
    await world.prefer(contact, "opt_in", "newsletter")
    assert await world.reasons(NEWSLETTER) == []
    await world.prefer(contact, "opt_out", "newsletter")
    assert await world.reasons(NEWSLETTER) == ["opted_out", "no_consent"]


async def test_unknown_addresses_have_no_consent_but_soft_opt_in_is_allowed(world):
    assert await world.reasons(NEWSLETTER, address="nobody@example.com") == ["no_consent"]
    assert await world.reasons(PRODUCT, address="nobody@example.com") == []
    assert await world.reasons(SERVICE_NEWS, address="nobody@example.com") == []
    assert await world.reasons(None, address="nobody@example.com") == []


@pytest.mark.parametrize("allowed_topic", [PRODUCT, SERVICE_NEWS], ids=lambda t: t.legal_basis)
async def test_soft_opt_in_and_legitimate_interest_allowed_until_opt_out(world, allowed_topic):
    contact = await world.contact()
    assert await world.reasons(allowed_topic) == []
    await world.prefer(contact, "opt_out", allowed_topic.key)
    assert await world.reasons(allowed_topic) == ["opted_out"]


async def test_restricted_contacts_get_only_transactional_messages(world):
    contact = await world.contact()
    await world.prefer(contact, "opt_in", "newsletter")
    await world.restrict(contact)
    assert await world.reasons(NEWSLETTER) == ["restricted"]
    assert await world.reasons(None) == ["restricted"]
    assert await world.reasons(ACCOUNT) == []


async def test_every_reason_that_applies_is_listed(world):
    contact = await world.contact()
    await world.prefer(contact, "opt_out")
    await world.suppress("hard_bounce")
    await world.suppress("unsubscribed")
    assert await world.reasons(NEWSLETTER) == [
        "hard_bounce", "unsubscribed", "opted_out", "no_consent"]
    assert await world.reasons(ACCOUNT) == ["hard_bounce"]


async def test_spellings_of_one_address_share_its_state(world):
    await world.contact("email", "Foo@EXAMPLE.com")
    await world.suppress("unsubscribed", address=" foo@example.com ")
    assert await world.reasons(None, address="FOO@example.COM") == ["unsubscribed"]
    await world.suppress("complaint", channel="sms", address="+44 20 7946 0958")
    assert await world.reasons(None, "sms", "020 7946 0958") == ["complaint"]
