"""Request and response models of the tenants API (`/v1/tenants`, operator keys)."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from service.settings import TenantSettings
from service.tenants.logic import (
    DOMAINS_MAX,
    GROUP_MAX,
    HOST_MAX,
    HOST_MIN,
    HOST_PATTERN,
    HOST_RULE,
    NAME_MAX,
    NAME_PATTERN,
    SLUG,
)

# The schema says exactly what logic.check_domains accepts, so a client (or a fuzzer) that
# follows it is never refused; the command line's --domain is read more leniently.
HostName = Annotated[str, StringConstraints(min_length=HOST_MIN, max_length=HOST_MAX,
                                            pattern=HOST_PATTERN)]
_DOMAINS_DOC = (f"Host names of this tenant's recipient pages without a token (`/p`, `/o`): "
                f"each {HOST_RULE}, served by no other tenant (else 409). DNS and TLS for them "
                "are the operator's.")
_NAME_DOC = "Shown on the tenant's pages; not only spaces."


# The settings whose values are integers (a number of days, a limit), or maps to integers.
_INTEGERS = {name for name, field in TenantSettings.model_fields.items()
             if int in typing.get_args(field.annotation)}
_INTEGER_MAPS = {"external_list_max_age_days"}
_BOOLEANS = {name for name, field in TenantSettings.model_fields.items()
             if bool in typing.get_args(field.annotation)}


def _integer(value: Any) -> Any:
    """A JSON integer: JSON Schema counts 30.0 as one; true, 1.5 and "30" are none."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError("must be an integer")
    return value


class TenantSettingsIn(TenantSettings):
    """TenantSettings as the API takes them: integers only as JSON integers, as the schema
    says (`false`, `1.5` or `"30"` is none), booleans only as JSON booleans (`0` is none).
    Not `strict=True`: Litestar validates with `strict=False`, which overrides it
    (topics/schemas.py, JSONBool). The command line's `--set` passes text, read by
    TenantSettings itself."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_integers(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in _INTEGERS:
            return _integer(value)
        if info.field_name in _INTEGER_MAPS and isinstance(value, dict):
            return {key: _integer(item) for key, item in value.items()}
        if info.field_name in _BOOLEANS and value is not None and not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

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
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN,
                      description=_NAME_DOC)
    controller_group: str | None = Field(None, max_length=GROUP_MAX, description=(
        "Tenants of one data controller share a group (their brands)."))
    settings: TenantSettingsIn = Field(default_factory=TenantSettingsIn,
                                       description=_SETTINGS_DOC)
    domains: list[HostName] = Field(default_factory=list, max_length=DOMAINS_MAX,
                                    description=_DOMAINS_DOC)


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # absent: unchanged (a name cannot be unset, so null is no value for it)
    name: str = Field(None, min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN,
                      description=_NAME_DOC)
    controller_group: str | None = Field(None, max_length=GROUP_MAX)
    settings: TenantSettingsIn | None = Field(None, description=(
        _SETTINGS_DOC + " Merged into the tenant's; a setting given as null is unset."))
    domains: list[HostName] | None = Field(None, max_length=DOMAINS_MAX, description=(
        _DOMAINS_DOC + " Replaces the list; null or [] leaves none."))


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str
    controller_group: str | None = None
    settings: dict[str, Any]
    domains: list[str]
    created_at: datetime
    updated_at: datetime
