"""The SMS providers whose inbound webhooks this service takes, by the name in the path.

`POST /v1/webhooks/{name}` is mounted for every entry (routes.py). A provider module's `read`
follows the contract of `inbound.py`; `answer` turns the reply into the body the provider
expects back (TwiML, Plivo XML), with its media type; a provider without one (its replies go
out through its API, not in the answer) gets the JSON `SmsReceipt`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.sms import bird, plivo, twilio, vonage
from service.sms.inbound import InboundSms


@dataclass(frozen=True, slots=True)
class Provider:
    title: str  # as the provider spells itself, for the operation id and summary
    read: Callable[[str, Any, bytes, Any, datetime], InboundSms]
    answer: Callable[[InboundSms | None, str | None], bytes] | None = None
    media_type: str = "application/json"


PROVIDERS: dict[str, Provider] = {
    "twilio": Provider("Twilio", twilio.read, twilio.answer, twilio.MEDIA_TYPE),
    "plivo": Provider("Plivo", plivo.read, plivo.answer, plivo.MEDIA_TYPE),
    "vonage": Provider("Vonage", vonage.read),
    "bird": Provider("Bird", bird.read),
}
