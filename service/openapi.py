"""Details the framework leaves out, so the schema and the HTTP answers say the same thing.

Litestar documents pydantic models without `additionalProperties`, so a client (or
schemathesis) reads every model as open while those with `extra="forbid"` answer 422 to an
unknown field; and without the `pattern` of `Field(pattern=...)`, so a topic key of "" looks
valid. The schema plugin below adds both.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.spec import Schema
from litestar.plugins.pydantic import PydanticSchemaPlugin
from litestar.routes import HTTPRoute


class StrictModelsSchemaPlugin(PydanticSchemaPlugin):
    """Pydantic models as Litestar documents them, plus `additionalProperties: false` for the
    models that refuse unknown fields (`model_config = ConfigDict(extra="forbid")`)."""

    @classmethod
    def for_pydantic_model(cls, field_definition: Any, schema_creator: Any) -> Schema:
        schema = super().for_pydantic_model(field_definition, schema_creator)
        model = field_definition.annotation
        config = getattr(model, "model_config", {}) or {}
        if config.get("extra") == "forbid":
            schema.additional_properties = False
        for name, field in getattr(model, "model_fields", {}).items():
            pattern = next((m.pattern for m in field.metadata if getattr(m, "pattern", None)),
                           None)
            prop = (schema.properties or {}).get(field.alias or name)
            if pattern and isinstance(prop, Schema):
                prop.pattern = pattern  # Field(pattern=...): enforced, and now documented
        return schema


def fix_allow_headers(app: Litestar) -> None:
    """Make every automatic `OPTIONS` answer list all the methods of its path.

    Litestar 2.25 builds a path's `OPTIONS` handler with its first handler and keeps it when the
    router adds the others, so its `Allow` header reads a stale route: `OPTIONS, POST` on
    `/v1/topics`, which also has GET (schemathesis: "Allow header mismatch"). The handler's
    closure holds that route; point it at the route the path ended with.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            fn = getattr(handler.fn, "__wrapped__", handler.fn)
            if fn.__name__ != "options_handler" or not fn.__closure__:
                continue
            for cell in fn.__closure__:
                if isinstance(cell.cell_contents, HTTPRoute):
                    cell.cell_contents = route
