"""Capabilities plug into shared mechanisms by module convention, not by a central list edit."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

CAPABILITIES = ("apikeys", "topics", "contacts", "consent", "suppression", "unsubscribe",
                "preferences", "subscriptions", "mail", "privacy", "webhooks", "ops")


def collect(module: str, attr: str) -> dict[str, Any]:
    """Merge the dict `attr` of every `service/<capability>/<module>.py` that exists."""
    found: dict[str, Any] = {}
    for cap in CAPABILITIES:
        name = f"service.{cap}.{module}"
        if importlib.util.find_spec(f"service.{cap}") is None:
            continue
        if importlib.util.find_spec(name) is not None:
            found.update(getattr(importlib.import_module(name), attr))
    return found
