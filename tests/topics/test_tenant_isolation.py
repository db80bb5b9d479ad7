"""Tenants (issue 18): one tenant's topics are invisible to, and left alone by, another's
create, list, read, update, archive and topic cache, on both engines. Until migration T2 drops
the old unique on topic.key, the two tenants use different keys."""

from __future__ import annotations

import pytest

from service.db.tenant_db import TenantDb
from service.errors import NotFound
from service.topics.cache import TopicCache
from service.topics.logic import create_topic, get_topic, list_topics, set_archived, update_topic

OURS = {"key": "newsletter", "name": "Newsletter", "channels": ["email"]}
THEIRS = {"key": "partners", "name": "Partner offers", "channels": ["email", "sms"],
          "sale_or_sharing": True}


async def test_each_tenant_sees_and_changes_only_its_own_topics(db, raw_db):
    other = TenantDb(raw_db, 2)
    await create_topic(db, OURS)
    await create_topic(other, THEIRS)
    theirs_before = await list_topics(other, include_archived=True)

    assert [t["key"] for t in await list_topics(db, include_archived=True)] == ["newsletter"]
    assert [t["key"] for t in theirs_before] == ["partners"]
    for read in (lambda: get_topic(db, "partners"),
                 lambda: update_topic(db, "partners", {"name": "Taken over"}),
                 lambda: set_archived(db, "partners", True),
                 lambda: get_topic(other, "newsletter"),
                 lambda: set_archived(other, "newsletter", True)):
        with pytest.raises(NotFound):
            await read()
    await update_topic(db, "newsletter", {"name": "News"})
    await set_archived(db, "newsletter", True)

    assert await list_topics(other, include_archived=True) == theirs_before
    rows = await raw_db.fetch("SELECT tenant_id, key, name, archived_at IS NULL FROM topic"
                              " ORDER BY tenant_id")
    assert [tuple(r) for r in rows] == [(1, "newsletter", "News", False),
                                        (2, "partners", "Partner offers", True)]


async def test_the_topic_cache_of_a_tenants_view_holds_its_own_topics(db, raw_db, rt):
    assert rt.for_tenant(2).topics is not rt.topics  # each view its own cache
    other = TenantDb(raw_db, 2)  # the app's own database lives on the client's event loop
    await create_topic(db, OURS)
    await create_topic(other, THEIRS)
    ours, theirs = TopicCache(), TopicCache()
    assert list(await ours.all(db)) == ["newsletter"]
    assert list(await theirs.all(other)) == ["partners"]
    assert await ours.get(db, "partners") is None
    assert (await theirs.get(other, "partners")).sale_or_sharing
