"""Details the framework leaves out, so the schema and the HTTP answers say the same thing.

Litestar documents pydantic models without `additionalProperties`, so a client (or
schemathesis) reads every model as open while those with `extra="forbid"` answer 422 to an
unknown field; and without the `pattern` of `Field(pattern=...)`, so a topic key of "" looks
valid. The schema plugin below adds both. It also puts the constraints of an optional field
(`X | None`) where they hold, on X's branch: a list's length as `maxItems`, not `maxLength`;
the constraints of a list's items (`list[Annotated[str, StringConstraints(...)]]`) and of a
map's values; and a bound of 0 (`ge=0`), which Litestar leaves out as if it were none.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from litestar import Litestar
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
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
            if isinstance(prop, Schema):
                _constrain(prop, field.annotation, field.metadata)
        return schema


def _branch(prop: Schema) -> Schema:
    """The schema of a value that is not null: `X` of `oneOf: [X, null]`, else `prop`."""
    for option in prop.one_of or ():
        if isinstance(option, Schema) and option.type != OpenAPIType.NULL:
            return option
    return prop


def _unwrapped(annotation: Any) -> tuple[Any, list]:
    """(the type, its Annotated metadata), `X | None` read as X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *metadata = typing.get_args(annotation)
        return annotation, metadata
    return annotation, []


def _bounds(metadata: list) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(getattr(item, "metadata", None), list):  # Field(...) inside Annotated
            found.update(_bounds(item.metadata))
        for name in ("ge", "le", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def _constrain(prop: Schema, annotation: Any, metadata: list) -> None:
    """Every constraint pydantic enforces on this field, in the schema where it applies."""
    kind, inner = _unwrapped(annotation)
    bounds = _bounds([*metadata, *inner])
    target = _branch(prop)
    if target.type == OpenAPIType.ARRAY:
        if "max_length" in bounds:
            target.max_items, prop.max_length = bounds["max_length"], None
        if "min_length" in bounds:
            target.min_items, prop.min_length = bounds["min_length"], None
        (item,) = typing.get_args(kind) or (Any,)
        if isinstance(target.items, Schema):
            _constrain(target.items, item, [])
    elif target.type == OpenAPIType.OBJECT and isinstance(target.additional_properties, Schema):
        args = typing.get_args(kind)
        if len(args) == 2:
            _constrain(target.additional_properties, args[1], [])
    elif target.type in (OpenAPIType.INTEGER, OpenAPIType.NUMBER):
        if "ge" in bounds:
            target.minimum = bounds["ge"]
        if "le" in bounds:
            target.maximum = bounds["le"]
    elif target.type == OpenAPIType.STRING:
        for name, attr in (("pattern", "pattern"), ("min_length", "min_length"),
                           ("max_length", "max_length")):
            if name in bounds:
                setattr(target, attr, bounds[name])


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
