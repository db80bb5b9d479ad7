"""The answer to a provider whose replies are not sent in the answer (Vonage, Bird)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.sms.logic import OUTCOMES


class SmsReceipt(BaseModel):
    outcome: Literal[OUTCOMES] = Field(description="What the message did (a repeat of a "
                                                   "message id: what it did the first time).")
    reply: str | None = Field(default=None, description="The text to send back to the sender, "
                                                        "if any: a confirmation or help, never "
                                                        "marketing.")
