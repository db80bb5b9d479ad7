"""Global Privacy Control: whether a browser's request carries the signal.

The GPC specification (https://privacycg.github.io/gpc-spec/) defines one header, `Sec-GPC`,
whose only valid value is "1"; any other value, or none, means no signal. Read the same way by
every recipient page: the preference centre, the unsubscribe page and the confirmation page.
A GET only reads it to tell the person what is honoured; a form POST acts on it
(service/consent/gpc.py).
"""

from __future__ import annotations

from typing import Any

HEADER = "sec-gpc"


def gpc_signal(request: Any) -> bool:
    """True when the request (a Litestar `Request`) carries `Sec-GPC: 1`."""
    # HTTP parsers drop the optional whitespace around a field value; "1" is the only valid value
    return request.headers.get(HEADER, "").strip() == "1"
