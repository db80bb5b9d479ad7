"""Shapes of the webhooks API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class EspWebhookResult(BaseModel):
    received: int = Field(description="Events that concern an address")
    suppressed: int = Field(description="New suppressions written")
    soft_bounces: int
    ignored: int = Field(description="Records with nothing to do (deliveries, opens, ...)")
    confirmed: bool = Field(False, description="SNS: the subscription was confirmed")


class SubscriptionCreate(BaseModel):
    url: str = Field(max_length=2000, examples=["https://crm.example.com/hooks/preferences"])
    from_start: bool = Field(False, description="Deliver the whole feed, not only new changes")


class SubscriptionOut(BaseModel):
    id: int
    url: str
    active: bool
    last_seq: int = Field(description="The last change the endpoint acknowledged")
    created_at: datetime
    failing: bool = False
    last_error: str | None = None


class SubscriptionCreated(BaseModel):
    id: int
    url: str
    active: bool
    last_seq: int
    created_at: datetime
    secret: str = Field(description="Signs every delivery; shown only this once.")


class SubscriptionUpdate(BaseModel):
    active: bool
