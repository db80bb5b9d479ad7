"""A tenant's view of the runtime: its settings over the deployment's, its own caches, and the
default tenant's view the runtime itself, its settings unchanged."""

from __future__ import annotations

import pytest

from service.db.tenant_db import TenantDb
from service.runtime import build_runtime
from service.settings import Settings, TenantSettings, tenant_settings
from service.tenants.logic import create_tenant, update_tenant
from service.tenants.registry import TenantRegistry
from service.tenants.secrets import PROVIDER_FIELDS


@pytest.fixture
async def base(settings, client):
    """A runtime of the test's own, on the test's event loop."""
    rt = build_runtime(settings)
    await rt.db.open()
    yield rt
    await rt.db.close()


async def test_a_tenants_view_has_its_own_settings_and_the_defaults_are_unchanged(
        base, settings, tenant_b, db):
    await base.load_tenants()
    default = base.for_tenant(1)
    assert default is base and default.settings is settings
    assert default.tenant.slug == "default" and default.tenant_id == 1

    b = base.for_tenant(tenant_b.id)
    assert b.settings.org_name == "Brand B"
    assert b.tenant.slug == "b" and b.tenant_id == tenant_b.id
    assert b.db.tenant_id == tenant_b.id and b.db.raw is base.db.raw
    assert b.topics is not base.topics and b.external_lists is not base.external_lists
    assert b.keyer is base.keyer and b.api_keys is base.api_keys  # shared by the process
    assert base.signer.tenant_id == 1 and b.signer.tenant_id == tenant_b.id
    assert b.signer.sign_fields("unsubscribe", "c1", "email", "*").startswith(f"t{tenant_b.id}~")
    assert b.settings.org_primary_colour == settings.org_primary_colour
    assert base.settings.org_name == settings.org_name == "Example Ltd"
    assert base.for_tenant(tenant_b.id) is b  # built once
    assert b.for_tenant(1) is base


async def test_a_changed_tenant_gets_a_new_view(base, tenant_b):
    await base.load_tenants()
    before = base.for_tenant(tenant_b.id)
    await update_tenant(base.db, base.tenants, "b", {"settings": {
        "org_name": "Brand B Ltd", "org_primary_colour": "#123456",
        "external_list_max_age_days": {"tps": 7}}})
    after = base.for_tenant(tenant_b.id)
    assert after is not before
    assert after.settings.org_name == "Brand B Ltd"
    assert after.settings.org_primary_colour == "#123456"
    assert after.settings.external_list_max_age_days["TPS"] == 7
    assert after.settings.external_list_max_age_days["DNC"] == 31  # the others: the deployment's
    assert base.settings.external_list_max_age_days["TPS"] == 28


async def test_another_process_tenant_is_found_on_a_miss(base, raw_db):
    await base.load_tenants()
    elsewhere = TenantRegistry()  # "python -m service tenant create" in another process
    made = await create_tenant(TenantDb(raw_db, 1), elsewhere, "c", "Brand C",
                               domains=["prefs.c.example"])
    assert base.tenants.get(made["id"]) is None
    found = await base.tenants.find(base.db, slug="c")
    assert found is not None and found.id == made["id"]
    assert base.tenants.by_host("PREFS.c.example:443") == found
    assert (await base.tenants.find(base.db, tenant_id=made["id"])) == found
    assert await base.tenants.find(base.db, slug="nosuch") is None


async def test_an_id_without_a_row_gets_an_unkept_view(base):
    """Tests (and code that writes with TenantDb(raw, 2)) need no tenant row."""
    view = base.for_tenant(99)
    assert view.tenant is None and view.db.tenant_id == 99
    # the deployment's settings, but never the default tenant's provider secrets
    assert view.settings.model_dump(exclude=set(PROVIDER_FIELDS)) == base.settings.model_dump(
        exclude=set(PROVIDER_FIELDS))
    assert all(getattr(view.settings, name) == Settings.model_fields[name].default
               for name in PROVIDER_FIELDS)
    assert 99 not in base.views


def test_every_tenant_setting_is_a_setting(settings):
    for name in TenantSettings.model_fields:
        assert name in type(settings).model_fields, name
    merged = tenant_settings(settings, {"org_name": "X", "hash_key": "not allowed"})
    assert merged.org_name == "X" and merged.hash_key == settings.hash_key
