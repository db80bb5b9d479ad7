"""ESP events after each provider's parser: what happened to which address, and when.

Every provider module turns its payload into `EspEvent`s; `apply.apply_events` writes them.
Kinds: the suppression reasons `hard_bounce`, `complaint`, `unsubscribed`, `invalid`, and
`soft_bounce` (counted; see apply.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr

from service.errors import InputError

SUPPRESSING = ("hard_bounce", "complaint", "unsubscribed", "invalid")
KINDS = (*SUPPRESSING, "soft_bounce")


@dataclass(frozen=True, slots=True)
class EspEvent:
    kind: str
    address: str
    occurred_at: datetime
    provider: str
    topic: str | None = None  # a topic key; None: the whole channel
    message_ref: str | None = None


@dataclass
class Parsed:
    """What a provider's payload held: events to apply, and how many records were ignored."""

    events: list[EspEvent] = field(default_factory=list)
    ignored: int = 0
    confirmed: bool = False  # SNS: the subscription confirmation was answered
    on_success: Callable[[], None] | None = None  # run once the events are written


def rejected(status: int, message: str) -> InputError:
    """A request the provider's authentication refuses (401/403), or 406 for Mailgun's
    "do not retry"."""
    return InputError("signature", message, status=status)


def bad_body(message: str) -> InputError:
    return InputError("body", message, status=400)


def mailbox(value: object) -> str | None:
    """The address of `ann@example.com` or `Ann <ann@example.com>`; None if not a string."""
    if not isinstance(value, str) or not value.strip():
        return None
    return parseaddr(value)[1] or value.strip()


def iso_time(value: object) -> datetime:
    """An ISO 8601 or Unix timestamp as an aware UTC datetime (now when missing or odd)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str) and value:
            text = value.strip().replace("Z", "+00:00")
            if "." in text:  # .NET writes 7 fractional digits; Python takes up to 6
                head, _, tail = text.partition(".")
                digits = "".join(c for c in tail if c.isdigit())
                text = f"{head}.{digits[:6]}{tail[len(digits):]}"
            parsed = datetime.fromisoformat(text)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return datetime.now(UTC)
