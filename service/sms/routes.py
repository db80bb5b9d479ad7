"""Inbound SMS webhooks: `POST /v1/webhooks/{twilio,plivo,…}` (the default tenant) and
`POST /v1/webhooks/{twilio,plivo,…}/{tenant slug}` (any tenant), two operations per provider.

No API key: each provider's signature is the credential, as for the ESP webhooks (the
API-key guard lets `public_webhook` routes through). A bad or missing signature is refused
with 403 before anything is read or written. The URL a provider signed is rebuilt from
PUBLIC_BASE_URL (a proxy in front hides the one it called) plus the path and query.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec

from service.errors import InputError
from service.runtime import RT
from service.settings import Settings
from service.sms import logic
from service.sms.inbound import BadSignature
from service.sms.providers import PROVIDERS, Provider
from service.sms.schemas import SmsReceipt
from service.tenants.resolve import runtime_of_slug

PUBLIC = {"public_webhook": True}  # the API-key guard lets these through; they check signatures
log = logging.getLogger("service.sms")


def signed_url(settings: Settings, request: Request) -> str:
    """The URL as the provider called it: PUBLIC_BASE_URL, the path, the query as sent."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = settings.public_base_url.rstrip("/") + request.url.path
    return f"{url}?{query}" if query else url


def _route(name: str, provider: Provider, per_tenant: bool = False):
    """The handler of one provider's webhook (its own path and operation id): the default
    tenant's, or (`per_tenant`) any tenant's by the slug in its path."""
    async def receive_sms(rt: RT, request: Request) -> Response:
        if per_tenant:  # its own secrets verify it, and it writes into that tenant only
            rt = await runtime_of_slug(rt, request.path_params["tenant"])
        body = await request.body()
        try:
            message = provider.read(signed_url(rt.settings, request), request.headers, body,
                                    rt.settings, datetime.now(UTC))
        except BadSignature as exc:
            log.warning("%s SMS webhook refused: %s", name, exc)
            raise InputError("signature", str(exc), status=403) from None
        received = await logic.receive(rt, message)
        if provider.answer is None:
            receipt = SmsReceipt(outcome=received.outcome, reply=received.reply)
            return Response(receipt.model_dump(), media_type=provider.media_type)
        return Response(provider.answer(message, received.reply), media_type=provider.media_type)

    spec = ResponseSpec(str if provider.answer else SmsReceipt, media_type=provider.media_type,
                        generate_examples=False,
                        description="The provider's answer format: the reply to send, if any")
    whose = ("the tenant with the slug `tenant` (404 when none has it), verified with its own "
             "secrets (TENANT_SECRETS)" if per_tenant else "the default tenant")
    return post(
        f"/webhooks/{name}" + ("/{tenant:str}" if per_tenant else ""),
        operation_id=f"receive{'Tenant' if per_tenant else ''}{provider.title}Sms", opt=PUBLIC,
        tags=["sms webhooks"], status_code=200, security=[{}], responses={200: spec},
        summary=f"Receive {provider.title} inbound SMS (STOP, START, HELP)"
                + (" for a tenant" if per_tenant else ""),
        description=f"Signed by {provider.title} (docs/channels.md); a bad or missing "
                    "signature is refused with 403 and nothing is written. A repeated "
                    f"message id gets the first outcome again and writes nothing. For {whose}.",
    )(receive_sms)


api_routes = [_route(name, provider, per_tenant)
              for name, provider in PROVIDERS.items() for per_tenant in (False, True)]
page_routes: list = []
