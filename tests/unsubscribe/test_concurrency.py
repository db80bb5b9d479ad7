"""200 concurrent duplicate one-click POSTs, spread over two service processes' worth of
apps (each with its own connections): one suppression, one ledger event, no error."""

from __future__ import annotations

import asyncio

import httpx

from service.app import create_app
from service.security.tokens import TokenData
from tests.conftest import make_settings
from tests.unsubscribe.helpers import ONE_CLICK_BODY, add_contact, add_topic, blocked_reasons
from tests.unsubscribe.servers import serve


async def test_200_concurrent_duplicate_posts(database_url, tmp_path, db, rt):
    await add_topic(db, "newsletter", "Newsletter", legal_basis="soft_opt_in")
    contact_id, _ = await add_contact(db, rt, "email", "ivy@example.com")
    token = rt.signer.sign("unsubscribe", TokenData(contact_id, "email", "newsletter", "c1"))
    apps = [create_app(make_settings(database_url, tmp_path / str(i))) for i in range(2)]
    with serve(*apps) as urls:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=120) as http:
            responses = await asyncio.gather(*(
                http.post(f"{urls[i % 2]}/u/{token}", content=ONE_CLICK_BODY,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
                for i in range(200)
            ))
    assert [r.status_code for r in responses] == [200] * 200
    assert await db.fetchval("SELECT COUNT(*) FROM suppression") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM consent_event") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM preference") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM change_feed") == 2  # preference + suppression
    assert "unsubscribed" in await blocked_reasons(db, rt, "email", "ivy@example.com",
                                                   "newsletter")
