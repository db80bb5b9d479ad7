"""What every SMS provider's inbound webhook becomes once its signature is verified.

Each provider module (`twilio.py`, `plivo.py`, `vonage.py`, `bird.py`) exposes
`read(url, headers, body, settings, now) -> InboundSms`, raising `BadSignature` (answered 403,
nothing written) when the request is not provably from that provider, or `InputError` when a
signed body lacks a field. The rest (keywords, the one opt-out function, replies, repeats) is
provider-neutral.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from service.errors import InputError


class BadSignature(Exception):
    """The request is not signed by the provider (missing, wrong, expired or replayed)."""


@dataclass(frozen=True, slots=True)
class InboundSms:
    provider: str  # "twilio", "plivo", "vonage", "bird"
    message_id: str  # the provider's own id: a repeat of it writes nothing twice
    from_number: str  # the sender, as the provider gave it (normalized later)
    to_number: str  # our sending number it was sent to
    text: str
    # The provider's own reading, when it has one (Twilio's OptOutType with Advanced Opt-Out):
    # "stop", "start" or "help". It wins over our keyword lists, since the provider has already
    # acted on it (blocked the number, or unblocked it).
    keyword: str | None = None
    # The provider itself already sent the confirmation or help reply: ours would be a second.
    provider_replied: bool = False


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body as (name, value) pairs in the order sent (signatures sort them)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise InputError("body", "is not UTF-8 form data", status=400) from exc
    if any("\x00" in name or "\x00" in value for name, value in pairs):
        # no provider sends one, and PostgreSQL could not store it
        raise InputError("body", "contains a NUL character (%00), which no field accepts",
                         status=400)
    return pairs


def international(number: str) -> str:
    """`+` before a number given as bare digits (logic.py, for every provider): Plivo and Vonage
    send E.164 without it, which would otherwise read as a national number of
    DEFAULT_PHONE_REGION."""
    number = number.strip()
    return f"+{number}" if number.isdigit() else number
