"""schemathesis hooks for `st run` (loaded with SCHEMATHESIS_HOOKS): the one narrowed check.

`positive_data_acceptance` expects schema-valid input to be accepted. The schema cannot say
that an address must parse on its channel, that a topic must exist, that a cursor must be one
the service gave out, or that a parameter is required together with another; this check is
`positive_data_acceptance` except for a 422 whose every error names such a field (or the NUL
guard: no field accepts NUL, not even an undeclared property's name). docs/reliability.md.
"""

from __future__ import annotations

import re

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# "field: message" of the refusals the schema cannot express, each with why
DATA_DEPENDENT = re.compile("|".join([
    # an address must parse on its channel (`0` is a string, not a phone number)
    r"^((\w+\[\d+\]\.)?address|addresses\[\d+\]): ",
    # a topic must exist and be sent on the channel
    r"^((\w+\[\d+\]\.)?topic|topics): (unknown topic|topic '.*' is (not|transactional))",
    # a cursor must be one the service gave out
    r"^(query\.)?cursor: is not a cursor this service gave out",
    # fields required together, or one of two (no such rule in the generated schema)
    r"^query\.channel: is required with a newline-delimited body",
    r"^(channel|address): give channel and address together",
    r"^addresses: give an external_ref or at least one address",
    r"^preferences\[\d+\]: give status, paused_until",
    r"^external_ref: give external_ref, or channel and address",
    r"^preferences\[\d+\]: this channel and topic appear twice",
    # a time that must be in the future, or within days of now (the schema knows no "now")
    r"^preferences\[\d+\]\.paused_until: must be in the future",
    r"^sent_at: (is in the future|is more than \d+ days ago)",
    # a frequency must be one the topic offers; a pace must fit the item (topic or channel)
    r"^preferences\[\d+\]\.frequency: (give one of the topic's frequencies|topic '.*' offers"
    r"|applies to a topic)",
    r"^preferences\[\d+\]\.max_per_week: applies to a whole-channel item",
    # the default tenant's settings are the deployment's environment (any other slug's may be set)
    r"^settings: the default tenant's settings are the deployment's own",
    # the NUL guard: no field accepts NUL, not even the name of an undeclared property
    r"NUL character",
]))


def refused_for_data(response) -> bool:
    """A 422 whose every error is one of DATA_DEPENDENT."""
    if response.status_code != 422:
        return False
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return bool(errors) and all(
        DATA_DEPENDENT.search(f"{e.get('field', '')}: {e.get('message', '')}") for e in errors)


@schemathesis.check
def data_dependent_acceptance(ctx, response, case):
    """Schema-valid input accepted, unless refused for a reason the schema cannot express."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Exception:
        if refused_for_data(response):
            return None
        raise
