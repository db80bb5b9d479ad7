"""Operations: liveness, readiness."""

from __future__ import annotations

from litestar import MediaType, Response, get

from service.db.migrate import pending_migrations
from service.ops import queries as q
from service.runtime import RT


@get("/healthz", operation_id="checkLiveness",
     media_type=MediaType.TEXT, include_in_schema=True, sync_to_thread=False)
def healthz() -> str:
    """Alive: the process answers."""
    return "ok"


@get("/readyz", operation_id="checkReadiness")
async def readyz(rt: RT) -> Response[dict]:
    """Ready: the database answers and every migration is applied."""
    try:
        await rt.db.fetchval(q.PING)
        pending = await pending_migrations(rt.db)
    except Exception as exc:  # any failure to reach the database means not ready
        return Response({"ready": False, "error": f"database unreachable: {type(exc).__name__}"},
                        status_code=503)
    if pending:
        return Response({"ready": False, "error": "migrations pending", "pending": sorted(pending)},
                        status_code=503)
    return Response({"ready": True}, status_code=200)


route_handlers = [healthz, readyz]
