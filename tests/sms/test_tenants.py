"""Inbound SMS stay in their tenant (issue 18): a message is recorded, and known as a repeat,
in the tenant it came to, and a START lifts only a STOP given to the same tenant.

Until migration T2 a provider's message id cannot be held by two tenants (the old unique on
(provider, message_id) is still there), so each tenant's messages have ids of their own here.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from service.db.scoped import Scoped
from service.db.tenant_db import TenantDb
from service.runtime import build_runtime
from service.sms.inbound import InboundSms
from service.sms.logic import receive
from tests.sms.conftest import OUR_NUMBER

NUMBER = "+447911123456"
STOPPED = Scoped("INSERT INTO suppression (tenant_id, channel, address_key, topic, reason,"
                 " source, created_at, seq) VALUES ($1, 'sms', $2, '', 'unsubscribed',"
                 " 'sms_keyword', $3, 0)")


@pytest.fixture
async def worker(settings):
    rt = build_runtime(settings)
    await rt.db.open()
    yield rt
    await rt.db.close()


async def test_messages_and_stops_are_the_tenants_own(raw_db, worker):
    one, two = worker, worker.for_tenant(2)
    key = worker.parse_address("sms", NUMBER)[1]
    await TenantDb(raw_db, 2).execute(STOPPED, key, datetime.now(UTC))
    start = InboundSms(provider="twilio", message_id="SM-one-1", from_number=NUMBER,
                       to_number=OUR_NUMBER, text="START")
    assert (await receive(one, start)).outcome == "not_opted_out"  # stopped in tenant 2 only

    help_two = dataclasses.replace(start, message_id="SM-two-1", text="HELP")
    assert (await receive(two, help_two)).outcome == "help"
    assert (await receive(two, help_two)).repeat
    assert (await receive(one, dataclasses.replace(help_two, message_id="SM-one-2"))).outcome \
        == "help"

    rows = await raw_db.fetch("SELECT tenant_id, message_id, outcome FROM sms_message"
                              " ORDER BY message_id")
    assert [tuple(r) for r in rows] == [(1, "SM-one-1", "not_opted_out"), (1, "SM-one-2", "help"),
                                        (2, "SM-two-1", "help")]
    assert await raw_db.fetchval("SELECT tenant_id FROM suppression WHERE address_key = $1",
                                 key) == 2
