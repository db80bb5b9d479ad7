""""Stop every brand" (issue 18) on the preference centre, on both engines: offered only by a
tenant that allows it and has another brand in its controller group; choosing it (a CSRF form,
in a real Chromium and over HTTP) stops the page's tenant and every other tenant of the group,
each with its own ledger event and feed entry, and never a tenant outside the group."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from service.db.tenant_db import TenantDb
from service.security.tokens import TokenData
from service.tenants.logic import create_tenant
from service.tenants.registry import TenantRegistry
from tests.preferences.browser import ARTIFACTS, served
from tests.preferences.seed import add_contact, csrf_token, reasons

ANN, PHONE = "ann@example.com", "+44 20 7946 0123"
STOPPED = ["unsubscribed", "opted_out"]  # a contact's whole-channel opt-out


@pytest.fixture
async def brands(raw_db, db, rt):
    """Brand B (group acme, allows the option), Brand C (acme, does not set it), Brand D
    (group other, allows it, alone there) and the default tenant (no group). Ann is a contact
    of each on email; B also has her phone, which C has never heard of. Returns the tenants'
    database views by slug and the tokens of Ann's pages by slug."""
    registry = TenantRegistry()
    made = {}
    for slug, name, group, settings in (("b", "Brand B", "acme", {"stop_all_brands": True}),
                                        ("c", "Brand C", "acme", {}),
                                        ("d", "Brand D", "other", {"stop_all_brands": True})):
        made[slug] = (await create_tenant(db, registry, slug, name, group, settings))["id"]
    views = {"default": db, **{slug: TenantDb(raw_db, tid) for slug, tid in made.items()}}
    tokens = {}
    for slug, view in views.items():
        addresses = [("email", ANN)] + ([("sms", PHONE)] if slug == "b" else [])
        contact = await add_contact(view, rt, addresses)
        tokens[slug] = rt.for_tenant(view.tenant_id).signer.sign(
            "preferences", TokenData(contact, "email", "*"))
    await rt.tenants.load(db)  # the app learns the tenants made behind its back
    return views, tokens


async def _decisions(views, rt) -> dict[str, list[str]]:
    return {slug: await reasons(view, rt, "email", ANN, None) for slug, view in views.items()}


async def test_stop_every_brand_stops_the_group_only(client, rt, brands):
    views, tokens = brands
    page = await client.get(f"/p/{tokens['b']}")
    assert page.status_code == 200
    assert "Stop every brand of acme" in page.text and "Brand C" in page.text
    assert "Brand D" not in page.text
    done = await client.post(f"/p/{tokens['b']}", data={"_csrf_token": csrf_token(page.text),
                                                         "action": "stop_all_brands"})
    assert done.status_code == 200, done.text
    assert "All marketing stopped for the other brands of acme too: Brand C" in done.text
    assert await _decisions(views, rt) == {"default": [], "b": STOPPED, "c": STOPPED, "d": []}
    assert await reasons(views["b"], rt, "sms", PHONE, None) == STOPPED
    # C never had the phone: the suppression alone stops the brand
    assert await reasons(views["c"], rt, "sms", PHONE, None) == ["unsubscribed"]

    # each tenant has its own proof: B's page in B, and C's event saying it came from B's page
    b_events = await views["b"].fetch(
        "SELECT source FROM consent_event WHERE tenant_id = $1 AND action = 'opt_out'",
        views["b"].tenant_id)
    assert sorted(r[0] for r in b_events) == ["preference_centre", "preference_centre"]
    c_events = await views["c"].fetch(
        "SELECT source, channel, detail FROM consent_event WHERE tenant_id = $1"
        " AND action = 'opt_out'", views["c"].tenant_id)
    assert [(r[0], r[1]) for r in c_events] == [("stop_all_brands", "email")]
    detail = c_events[0][2]
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert detail["page_tenant"] == "b" and detail["controller_group"] == "acme"
    c_feed = await views["c"].fetch("SELECT channel, source FROM change_feed WHERE tenant_id = $1"
                                    " ORDER BY seq", views["c"].tenant_id)
    # the email opt-out and suppression, the phone's suppression: C's webhooks hear of them
    assert {tuple(r) for r in c_feed} == {("email", "stop_all_brands"),
                                          ("sms", "stop_all_brands")}
    for outside in ("default", "d"):
        view = views[outside]
        assert await view.fetchval("SELECT COUNT(*) FROM change_feed WHERE tenant_id = $1",
                                   view.tenant_id) == 0, outside

    # again: nothing changes anywhere, and the page says so
    page = await client.get(f"/p/{tokens['b']}")
    again = await client.post(f"/p/{tokens['b']}", data={"_csrf_token": csrf_token(page.text),
                                                          "action": "stop_all_brands"})
    assert "Nothing changed." in again.text
    assert len(await views["c"].fetch("SELECT seq FROM change_feed WHERE tenant_id = $1",
                                      views["c"].tenant_id)) == len(c_feed)


async def test_the_option_is_offered_only_where_allowed(client, rt, brands):
    views, tokens = brands
    # C is in the group but does not allow it; D allows it but is alone; default: no group
    for slug in ("c", "d", "default"):
        page = await client.get(f"/p/{tokens[slug]}")
        assert page.status_code == 200 and "Stop every brand" not in page.text, slug
    # a forged POST on C's page stops C alone, as "Unsubscribe from all marketing" would
    page = await client.get(f"/p/{tokens['c']}")
    done = await client.post(f"/p/{tokens['c']}", data={"_csrf_token": csrf_token(page.text),
                                                         "action": "stop_all_brands"})
    assert done.status_code == 200 and "other brands" not in done.text
    assert await _decisions(views, rt) == {"default": [], "b": [], "c": STOPPED, "d": []}


async def test_stop_every_brand_in_chromium(request, settings, rt, brands, browser):
    views, tokens = brands
    engine = request.node.callspec.params["database_url"]
    ARTIFACTS.mkdir(exist_ok=True)
    with served(settings) as base:
        page = await browser.new_page(locale="en-GB", viewport={"width": 390, "height": 844})
        await page.goto(f"{base}/p/{tokens['b']}")
        form = page.get_by_role("form", name="Stop every brand of acme")
        await expect(form).to_contain_text("Brand C")
        await form.get_by_role("button", name="Stop every brand").click()
        status = page.get_by_role("status")
        await expect(status).to_contain_text("Your choices are saved.")
        await expect(status).to_contain_text(
            "All marketing stopped for the other brands of acme too: Brand C")
        await expect(status).to_contain_text("Email: all marketing switched off")
        await page.screenshot(path=ARTIFACTS / f"stop-every-brand-{engine}.png", full_page=True)
        # a POST without the form's CSRF token is refused before it reaches the handler
        refused = await page.request.post(f"{base}/p/{tokens['d']}",
                                          form={"action": "stop_all_brands"})
        assert refused.status == 403
        await page.close()
    assert await _decisions(views, rt) == {"default": [], "b": STOPPED, "c": STOPPED, "d": []}
