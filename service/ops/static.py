"""Static assets (CSS) served by the service itself: pages load nothing from third parties."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Response, get
from litestar.params import FromQuery
from litestar.static_files import create_static_files_router

from service.runtime import RT

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")

static_router = create_static_files_router(path="/static", directories=[STATIC_DIR],
                                           include_in_schema=False)


@get("/brand.css", include_in_schema=False)
async def brand_css(rt: RT, t: FromQuery[int | None] = None) -> Response[str]:
    """The tenant's colour from its settings, as CSS (no inline styles under our CSP): the
    tenant of the host (`rt`), or the one a page names with `?t=` (a page opened by a link of
    a tenant, on a host no tenant lists). A colour is no secret: it is on the tenant's pages."""
    if t is not None and t != rt.tenant_id and rt.tenants.get(t) is not None:
        rt = rt.for_tenant(t)
    colour = rt.settings.org_primary_colour
    if not _COLOUR.fullmatch(colour):
        colour = "#1d4ed8"
    return Response(f":root {{ --brand: {colour}; }}\n", media_type="text/css",
                    headers={"Cache-Control": "public, max-age=300"})
