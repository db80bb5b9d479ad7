"""What a tenant is, as the rest of the service sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TENANT_ID = 1  # today's data and settings: the tenant every single-tenant deployment is
DEFAULT_SLUG = "default"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    slug: str
    name: str
    controller_group: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)  # non-secret overrides (D8)
    domains: tuple[str, ...] = ()
