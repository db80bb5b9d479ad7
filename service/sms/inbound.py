"""What every SMS provider's inbound webhook becomes once its signature is verified.

Each provider module (`twilio.py`, `plivo.py`, `vonage.py`, `bird.py`) exposes
`read(url, headers, body, settings, now) -> InboundSms`, raising `BadSignature` (answered 403,
nothing written) when the request is not provably from that provider, or `InputError` when a
signed body lacks a field. The rest (keywords, the one opt-out function, replies, repeats) is
provider-neutral.
"""

from __future__ import annotations

from dataclasses import dataclass


class BadSignature(Exception):
    """The request is not signed by the provider (missing, wrong, expired or replayed)."""


@dataclass(frozen=True, slots=True)
class InboundSms:
    provider: str  # "twilio", "plivo", "vonage", "bird"
    message_id: str  # the provider's own id: a repeat of it writes nothing twice
    from_number: str  # the sender, as the provider gave it (normalized later)
    to_number: str  # our sending number it was sent to
    text: str
