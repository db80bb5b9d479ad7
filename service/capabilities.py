"""The one list of capabilities, in order, and how shared mechanisms find what each plugs in.

Both the app (`routes.py`: `api_routes`, `page_routes`) and the command line, the worker and the
outbox (`commands.py` COMMANDS, `jobs.py` LOOPS, `senders.py` SENDERS) read this tuple, so adding
a capability folder is one edit here. Modules are imported by name when first asked for: the CLI
never loads the web routes, and `service/<capability>/<module>.py` is optional.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

CAPABILITIES = ("apikeys", "tenants", "topics", "contacts", "consent", "suppression", "unsubscribe",
                "preferences", "subscriptions", "mail", "privacy", "records", "webhooks", "sms",
                "codes", "sends", "ops")


def modules(module: str) -> list[ModuleType]:
    """`service/<capability>/<module>.py` of every capability that has one, in registry order."""
    found = []
    for cap in CAPABILITIES:
        name = f"service.{cap}.{module}"
        if importlib.util.find_spec(f"service.{cap}") is None:
            continue  # a capability left out of this build
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found


def collect(module: str, attr: str) -> dict[str, Any]:
    """Merge the dict `attr` of every `service/<capability>/<module>.py` that exists."""
    found: dict[str, Any] = {}
    for mod in modules(module):
        found.update(getattr(mod, attr, {}))
    return found


def routes(attr: str) -> list[Any]:
    """Every capability's route handlers in the list `attr` (`api_routes` or `page_routes`)."""
    return [handler for mod in modules("routes") for handler in getattr(mod, attr, [])]
