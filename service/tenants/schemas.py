"""Request and response models of the tenants API (`/v1/tenants`, operator keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.settings import TenantSettings
from service.tenants.logic import GROUP_MAX, NAME_MAX, SLUG

_SETTINGS_DOC = ("Non-secret settings of this tenant over the deployment's, by name: "
                 + ", ".join(TenantSettings.model_fields) + ". Anything else is refused (422).")
_EXAMPLE = {"slug": "acme", "name": "Acme Ltd", "controller_group": "acme-group",
            "settings": {"org_logo_url": "https://acme.example/logo.png",
                         "org_primary_colour": "#aa0000", "default_language": "en"},
            "domains": ["prefs.acme.example"]}


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    slug: str = Field(min_length=1, max_length=40, pattern=SLUG.pattern,
                      description="Names the tenant in X-Tenant and on the command line; "
                                  "never changes.")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    controller_group: str | None = Field(None, max_length=GROUP_MAX, description=(
        "Tenants of one data controller share a group (their brands)."))
    settings: dict[str, Any] = Field(default_factory=dict, description=_SETTINGS_DOC)
    domains: list[str] = Field(default_factory=list, description=(
        "Host names of this tenant's recipient pages."))


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    controller_group: str | None = Field(None, max_length=GROUP_MAX)
    settings: dict[str, Any] | None = Field(None, description=(
        _SETTINGS_DOC + " Merged into the tenant's; a setting given as null is unset."))
    domains: list[str] | None = None


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str
    controller_group: str | None = None
    settings: dict[str, Any]
    domains: list[str]
    created_at: datetime
    updated_at: datetime
