"""ESP event webhooks (authenticated by the provider's signature, not an API key) and the
admin API of outgoing webhook subscriptions."""

from __future__ import annotations

from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from service.errors import NotFound, RowId
from service.runtime import RT, Runtime
from service.tenants.resolve import runtime_of_slug
from service.webhooks import mailgun, outgoing, postmark, sendgrid, ses
from service.webhooks.apply import apply_events
from service.webhooks.schemas import (
    EspWebhookResult,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
    SubscriptionUpdate,
)

PROVIDERS = {"ses": ses.receive, "sendgrid": sendgrid.receive, "mailgun": mailgun.receive,
             "postmark": postmark.receive}
PUBLIC = {"public_webhook": True}  # the API-key guard lets these through; they check signatures
ADMIN = {"scope": "admin"}


@post("/webhooks/{provider:str}", operation_id="receiveProviderEvents",
      opt=PUBLIC, tags=["esp webhooks"], status_code=200,
      summary="Receive ESP bounce, complaint and unsubscribe events", security=[{}])
async def esp_webhook(rt: RT, request: Request, provider: FromPath[str]) -> EspWebhookResult:
    """`provider`: ses (SNS), sendgrid, mailgun or postmark. No API key: each request is
    authenticated the provider's way (docs/webhooks.md); refused 401/403, or 406 for a replayed
    or stale Mailgun request. Events go to the default tenant."""
    return await _receive(rt, request, provider)


@post("/webhooks/{provider:str}/{tenant:str}", operation_id="receiveTenantProviderEvents",
      opt=PUBLIC, tags=["esp webhooks"], status_code=200,
      summary="Receive a tenant's ESP bounce, complaint and unsubscribe events", security=[{}])
async def tenant_esp_webhook(rt: RT, request: Request, provider: FromPath[str],
                             tenant: FromPath[str]) -> EspWebhookResult:
    """As `receiveProviderEvents`, for the tenant with the slug `tenant` (404 when none has
    it): verified with that tenant's own provider secrets (TENANT_SECRETS; a provider it has
    none for is refused 403), and written into that tenant only."""
    return await _receive(await runtime_of_slug(rt, tenant), request, provider)


async def _receive(rt: Runtime, request: Request, provider: str) -> EspWebhookResult:
    receive = PROVIDERS.get(provider)
    if receive is None:
        raise NotFound("provider", f"unknown provider; use one of {', '.join(PROVIDERS)}")
    parsed = await receive(rt, request.headers, await request.body())
    applied = await apply_events(rt, parsed.events)
    if parsed.on_success is not None:
        parsed.on_success()
    return EspWebhookResult(received=applied.received, suppressed=applied.suppressed,
                            soft_bounces=applied.soft_bounces,
                            ignored=parsed.ignored + applied.ignored,
                            confirmed=parsed.confirmed)


@post("/webhook-subscriptions", operation_id="createWebhookSubscription",
      opt=ADMIN, tags=["webhook subscriptions"], status_code=201,
      summary="Register a URL for every change of the feed")
async def create_subscription(rt: RT, data: JSONBody[SubscriptionCreate]) -> SubscriptionCreated:
    """The answer holds the signing secret; it is not shown again."""
    return SubscriptionCreated(**await outgoing.create_subscription(rt, data.url,
                                                                    data.from_start))


@get("/webhook-subscriptions", operation_id="listWebhookSubscriptions",
     opt=ADMIN, tags=["webhook subscriptions"])
async def list_subscriptions(rt: RT) -> list[SubscriptionOut]:
    return [SubscriptionOut(**row) for row in await outgoing.list_subscriptions(rt)]


@patch("/webhook-subscriptions/{sub_id:int}", operation_id="updateWebhookSubscription",
       opt=ADMIN, tags=["webhook subscriptions"])
async def update_subscription(rt: RT, sub_id: RowId,
                              data: JSONBody[SubscriptionUpdate]) -> SubscriptionOut:
    """Switch deliveries off or on again (resuming after the last acknowledged change)."""
    await outgoing.set_active(rt, sub_id, data.active)
    for row in await outgoing.list_subscriptions(rt):
        if row["id"] == sub_id:
            return SubscriptionOut(**row)
    raise NotFound("id", "no webhook subscription with this id")


@delete("/webhook-subscriptions/{sub_id:int}", operation_id="deleteWebhookSubscription",
        opt=ADMIN, tags=["webhook subscriptions"],
        status_code=204)
async def delete_subscription(rt: RT, sub_id: RowId) -> None:
    await outgoing.delete_subscription(rt, sub_id)


api_routes = [esp_webhook, tenant_esp_webhook, create_subscription, list_subscriptions,
              update_subscription, delete_subscription]
page_routes: list = []
