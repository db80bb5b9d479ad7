"""Shapes of the webhooks API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from service.topics.schemas import JSONBool

# what check_url() accepts: a scheme, a host name or IPv4 address, an optional port and path
URL_PATTERN = r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?([/?#][!-~]*)?$"


class EspWebhookResult(BaseModel):
    received: int = Field(description="Events that concern an address")
    suppressed: int = Field(description="New suppressions written")
    soft_bounces: int
    ignored: int = Field(description="Records with nothing to do (deliveries, opens, ...)")
    confirmed: bool = Field(False, description="SNS: the subscription was confirmed")


class WebhookSubscriptionCreate(BaseModel):
    url: str = Field(max_length=2000, examples=["https://crm.example.com/hooks/preferences"],
                     pattern=URL_PATTERN, description="An http(s) URL (https in production).")
    from_start: JSONBool = Field(
        False, description="Deliver the whole feed, not only new changes")


class WebhookSubscription(BaseModel):
    id: int
    url: str
    active: bool
    last_seq: int = Field(description="The last change the endpoint acknowledged")
    created_at: datetime
    failing: bool = False
    last_error: str | None = None


class WebhookSubscriptionCreated(BaseModel):
    id: int
    url: str
    active: bool
    last_seq: int
    created_at: datetime
    secret: str = Field(description="Signs every delivery; shown only this once.")


class WebhookSubscriptionUpdate(BaseModel):
    active: JSONBool


# OpenAPI components are named after the classes, so each says it is about webhooks (beside
# the sign-up's `SignupRequest`/`SignupAccepted`). Old names kept for the route handlers.
SubscriptionOut = WebhookSubscription
SubscriptionCreate = WebhookSubscriptionCreate
SubscriptionCreated = WebhookSubscriptionCreated
SubscriptionUpdate = WebhookSubscriptionUpdate
