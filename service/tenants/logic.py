"""Tenants: create, list, read and change them (the operator's; `/v1/tenants` and
`python -m service tenant ...`). Every check runs before anything is written, and each error
names the field it is about.

A tenant's settings are the whitelisted, non-secret ones of `TenantSettings`
(service/settings.py) over the deployment's own; the default tenant's are the deployment's
own (its environment), so none can be set on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from service.db.tenant_db import TenantDb
from service.errors import Conflict, InputError, NotFound
from service.settings import TenantSettings
from service.tenants import queries as q
from service.tenants.model import DEFAULT_TENANT_ID
from service.tenants.registry import TenantRegistry, tenant_from_row

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SLUG_RULE = "1 to 40 lower-case letters, digits or hyphens, starting with a letter or digit"
NAME_MAX = 200
GROUP_MAX = 64
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+$")


def tenant_dict(row: Any) -> dict:
    tenant = tenant_from_row(row)
    return {"id": tenant.id, "slug": tenant.slug, "name": tenant.name,
            "controller_group": tenant.controller_group, "settings": dict(tenant.settings),
            "domains": list(tenant.domains), "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def check_slug(slug: str) -> str:
    if not SLUG.fullmatch(slug or ""):
        raise InputError("slug", f"must be {SLUG_RULE}")
    return slug


def check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InputError("name", "is required")
    if len(name) > NAME_MAX or "\x00" in name:
        raise InputError("name", f"must be at most {NAME_MAX} characters, without NUL")
    return name


def check_group(group: str | None) -> str | None:
    group = (group or "").strip() or None
    if group is not None and (len(group) > GROUP_MAX or "\x00" in group):
        raise InputError("controller_group", f"must be at most {GROUP_MAX} characters")
    return group


def check_settings(settings: Mapping[str, Any]) -> dict:
    """The settings as stored: whitelisted keys with valid values, else a 422 naming the key."""
    try:
        return TenantSettings.model_validate(dict(settings)).overrides()
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(TenantSettings.model_fields)
            raise InputError(f"settings.{key}", f"is not a tenant setting; one of: {allowed}"
                             ) from None
        raise InputError(f"settings.{key}", error["msg"]) from None


def check_domains(domains: Iterable[str]) -> tuple[str, ...]:
    found = []
    for domain in domains:
        host = domain.strip().lower()
        if not _HOST.fullmatch(host):
            raise InputError("domains", f"{domain!r} is not a host name")
        found.append(host)
    return tuple(dict.fromkeys(found))


async def _check_domains_free(db: TenantDb, tenants: TenantRegistry,
                              domains: tuple[str, ...], slug: str) -> None:
    if not domains:
        return
    await tenants.load(db)
    for host in domains:
        holder = tenants.by_host(host)
        if holder is not None and holder.slug != slug:
            raise Conflict("domains", f"{host!r} already serves the tenant {holder.slug!r}")


async def create_tenant(db: TenantDb, tenants: TenantRegistry, slug: str, name: str,
                        controller_group: str | None = None,
                        settings: Mapping[str, Any] | None = None,
                        domains: Iterable[str] = ()) -> dict:
    """A new tenant, also put in `tenants` (this process's registry); 409 (`slug`) when the
    slug is taken."""
    slug, name = check_slug(slug), check_name(name)
    group, stored = check_group(controller_group), check_settings(settings or {})
    hosts = check_domains(domains)
    await _check_domains_free(db, tenants, hosts, slug)
    return await _store(db, tenants, q.CREATE, slug, name, group, stored, hosts,
                        Conflict("slug", f"a tenant with the slug {slug!r} already exists"))


async def list_tenants(db: TenantDb) -> list[dict]:
    rows = await db.fetch(q.ALL)
    return [tenant_dict(r) for r in rows]


async def get_tenant(db: TenantDb, slug: str) -> dict:
    row = await db.fetchrow(q.BY_SLUG, slug) if SLUG.fullmatch(slug) else None
    if row is None:
        raise NotFound("slug", f"no tenant with the slug {slug!r}")
    return tenant_dict(row)


async def update_tenant(db: TenantDb, tenants: TenantRegistry, slug: str,
                        changes: Mapping[str, Any]) -> dict:
    """Change the name, controller group, settings or domains (the slug never changes).
    `settings` is merged into the tenant's: a key given as null goes back to the deployment's
    value."""
    current = await get_tenant(db, slug)
    name = check_name(changes["name"]) if "name" in changes else current["name"]
    group = (check_group(changes["controller_group"]) if "controller_group" in changes
             else current["controller_group"])
    settings = current["settings"]
    if changes.get("settings"):
        if current["id"] == DEFAULT_TENANT_ID:
            raise InputError("settings", "the default tenant's settings are the deployment's "
                             "own: set them in its environment (ORG_NAME, ...)")
        merged = {**settings, **changes["settings"]}
        settings = check_settings({k: v for k, v in merged.items() if v is not None})
    hosts = tuple(current["domains"])
    if "domains" in changes:
        hosts = check_domains(changes["domains"] or ())
        await _check_domains_free(db, tenants, hosts, slug)
    return await _store(db, tenants, q.UPDATE, slug, name, group, settings, hosts,
                        NotFound("slug", f"no tenant with the slug {slug!r}"))


async def _store(db: TenantDb, tenants: TenantRegistry, sql: str, slug: str, name: str,
                 group: str | None, settings: dict, hosts: tuple[str, ...],
                 missing: Exception) -> dict:
    """Write a tenant's row (`q.CREATE` or `q.UPDATE`, both taking slug, name, group,
    settings, domains, now and returning the row) and put it in this process's registry;
    `missing` is raised when the statement returned no row (a slug taken, or gone)."""
    async with db.transaction() as tx:
        row = await tx.fetchrow(sql, slug, name, group, json.dumps(settings), " ".join(hosts),
                                datetime.now(UTC))
    if row is None:
        raise missing
    tenants.put(tenant_from_row(row))
    return tenant_dict(row)


def parse_assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """`key=value` pairs of the command line as settings; a value in braces or brackets is
    JSON (`sendgrid_group_topics={"123": "news"}`), an empty one unsets the key."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("--set", f"{pair!r} is not key=value")
        value = value.strip()
        if value[:1] in ("{", "["):
            try:
                found[key.strip()] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InputError(f"settings.{key.strip()}", f"is not valid JSON: {exc}") from None
        else:
            found[key.strip()] = value or None
    return found

