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
# The spaces a name may not consist of only, spelled out: the schema's pattern (NAME_PATTERN)
# and `strip` then mean the same characters in every regex engine (the API's, the fuzzer's).
BLANK = " \t\n\r\f\v"
NAME_PATTERN = r"[^ \t\n\r\f\v]"
GROUP_MAX = 64
# A host name as a tenant lists it (RFC 1123): labels of ASCII letters, digits and inner
# hyphens, at most 63 characters each, two labels at least, no final dot, no port; 253 in all.
# Any case (host names have none), stored in lower case, as requests are looked up.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})+$"
HOST_MIN, HOST_MAX = 3, 253
DOMAINS_MAX = 20
HOST_RULE = (f"a host name of {HOST_MIN} to {HOST_MAX} characters, two labels at least, "
             "without a port or final dot (prefs.example.com; stored in lower case)")
_HOST = re.compile(HOST_PATTERN)


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
    name = (name or "").strip(BLANK)
    if not name:
        raise InputError("name", "is required")
    if len(name) > NAME_MAX or "\x00" in name:
        raise InputError("name", f"must be at most {NAME_MAX} characters, without NUL")
    return name


def check_group(group: str | None) -> str | None:
    group = (group or "").strip(BLANK) or None
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
    """The host names as stored: the API's schema takes them exactly as HOST_PATTERN says;
    the command line's `--domain` may differ in case and spaces."""
    found = []
    for domain in domains:
        host = domain.strip().lower()
        if not (HOST_MIN <= len(host) <= HOST_MAX and _HOST.fullmatch(host)):
            raise InputError("domains", f"{domain!r} is not {HOST_RULE}")
        found.append(host)
    hosts = tuple(dict.fromkeys(found))
    if len(hosts) > DOMAINS_MAX:
        raise InputError("domains", f"at most {DOMAINS_MAX} host names a tenant")
    return hosts


async def _check_domains_free(tx: Any, is_sqlite: bool, hosts: tuple[str, ...],
                              slug: str) -> None:
    """409 naming the first of `hosts` another tenant serves. Read in the writing transaction
    with the tenant-writes lock held (SQLite: its single writer), so two operators giving
    one host name to two tenants at once cannot both succeed."""
    if not is_sqlite:
        await tx.execute(q.LOCK_TENANT_WRITES)
    if not hosts:
        return
    for row in await tx.fetch(q.ALL):
        holder = tenant_from_row(row)
        taken = set(hosts).intersection(holder.domains)
        if holder.slug != slug and taken:
            host = next(h for h in hosts if h in taken)
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
    return await _store(db, tenants, q.CREATE, slug, name, group, stored, hosts, hosts,
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
    return await _store(db, tenants, q.UPDATE, slug, name, group, settings, hosts,
                        hosts if "domains" in changes else (),
                        NotFound("slug", f"no tenant with the slug {slug!r}"))


async def _store(db: TenantDb, tenants: TenantRegistry, sql: str, slug: str, name: str,
                 group: str | None, settings: dict, hosts: tuple[str, ...],
                 new_hosts: tuple[str, ...], missing: Exception) -> dict:
    """Write a tenant's row (`q.CREATE` or `q.UPDATE`, both taking slug, name, group,
    settings, domains, now and returning the row) and put it in this process's registry;
    `new_hosts` (the host names given) must be free, checked in the same transaction;
    `missing` is raised when the statement returned no row (a slug taken, or gone)."""
    async with db.transaction() as tx:
        await _check_domains_free(tx, db.is_sqlite, new_hosts, slug)
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

