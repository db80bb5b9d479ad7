"""Topics API: read with `contacts:read`, write with `admin`."""

from __future__ import annotations

from litestar import get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from service.runtime import RT
from service.topics import logic
from service.topics.schemas import TopicCreate, TopicOut, TopicUpdate

READ = {"scope": "contacts:read"}
ADMIN = {"scope": "admin"}
TAGS = ["topics"]


@post("/topics", operation_id="createTopic",
      opt=ADMIN, tags=TAGS, status_code=201, summary="Create a topic")
async def create_topic(rt: RT, data: JSONBody[TopicCreate]) -> TopicOut:
    """Create a topic; 409 when the key is taken."""
    topic = await logic.create_topic(rt.db, data.model_dump())
    rt.topics.invalidate()
    return TopicOut(**topic)


@get("/topics", operation_id="listTopics", opt=READ, tags=TAGS, summary="List topics")
async def list_topics(rt: RT, include_archived: FromQuery[bool] = False) -> list[TopicOut]:
    """Every topic by key; archived ones only with `include_archived=true`."""
    return [TopicOut(**t) for t in await logic.list_topics(rt.db, include_archived)]


@get("/topics/{key:str}", operation_id="getTopic", opt=READ, tags=TAGS, summary="Read a topic")
async def get_topic(rt: RT, key: FromPath[str]) -> TopicOut:
    return TopicOut(**await logic.get_topic(rt.db, key))


@patch("/topics/{key:str}", operation_id="updateTopic",
       opt=ADMIN, tags=TAGS, summary="Update a topic")
async def update_topic(rt: RT, key: FromPath[str], data: JSONBody[TopicUpdate]) -> TopicOut:
    """Change the name, description, channels, legal basis or transactional flag.

    Existing preferences and ledger events are kept as they are."""
    topic = await logic.update_topic(rt.db, key, data.model_dump(exclude_unset=True))
    rt.topics.invalidate()
    return TopicOut(**topic)


@post("/topics/{key:str}/archive", operation_id="archiveTopic",
      opt=ADMIN, tags=TAGS, status_code=200,
      summary="Archive a topic")
async def archive_topic(rt: RT, key: FromPath[str]) -> TopicOut:
    """Hide a topic from lists and refuse new preferences for it; nothing is deleted, so the
    ledger keeps its meaning. Archiving twice keeps the first time."""
    topic = await logic.set_archived(rt.db, key, True)
    rt.topics.invalidate()
    return TopicOut(**topic)


@post("/topics/{key:str}/restore", operation_id="restoreTopic",
      opt=ADMIN, tags=TAGS, status_code=200,
      summary="Restore an archived topic")
async def restore_topic(rt: RT, key: FromPath[str]) -> TopicOut:
    topic = await logic.set_archived(rt.db, key, False)
    rt.topics.invalidate()
    return TopicOut(**topic)


api_routes = [create_topic, list_topics, get_topic, update_topic, archive_topic, restore_topic]
page_routes: list = []
