"""Static assets (CSS) served by the service itself: pages load nothing from third parties."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Response, get
from litestar.static_files import create_static_files_router

from service.runtime import RT

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")

static_router = create_static_files_router(path="/static", directories=[STATIC_DIR],
                                           include_in_schema=False)


@get("/brand.css", include_in_schema=False)
async def brand_css(rt: RT) -> Response[str]:
    """The operator's colour from settings, as CSS (no inline styles under our CSP)."""
    colour = rt.settings.org_primary_colour
    if not _COLOUR.fullmatch(colour):
        colour = "#1d4ed8"
    return Response(f":root {{ --brand: {colour}; }}\n", media_type="text/css",
                    headers={"Cache-Control": "public, max-age=300"})
