from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.apikeys.logic import SCOPES

Scope = Literal[SCOPES]  # the enum of the schema is the tuple parse_scopes() checks against


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["crm-sync"])
    # The enum documented, the check left to parse_scopes(): its 422 names the unknown ones.
    # The example sits in json_schema_extra: beside Field(examples=...), Litestar 2 appends
    # the examples to this dict on every build, so each app's schema had one more copy.
    scopes: list[str] = Field(min_length=1, json_schema_extra={
        "items": {"type": "string", "enum": list(SCOPES)},
        "examples": [["contacts:read", "suppressions:read"]]})


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(BaseModel):
    id: int
    name: str
    scopes: list[Scope]
    key: str = Field(description="The secret key; shown only this once.")
