from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from service.apikeys.logic import SCOPES


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["crm-sync"])
    # the enum documented, the check left to parse_scopes(): its 422 names the unknown ones
    scopes: list[str] = Field(min_length=1, examples=[["contacts:read", "suppressions:read"]],
                              json_schema_extra={"items": {"type": "string",
                                                           "enum": list(SCOPES)}})


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(BaseModel):
    id: int
    name: str
    scopes: list[str]
    key: str = Field(description="The secret key; shown only this once.")
