"""schemathesis over the whole OpenAPI schema (`/schema/openapi.json`) against the real app
served by uvicorn, authenticated with an admin key, on both engines, with every check
schemathesis has (the pytest form of `st run --checks all`): no 5xx, responses that match the
schema (status codes, content types, bodies, headers, `Allow` on OPTIONS), invalid input
rejected, schema-valid input accepted, unsupported methods refused, auth not ignored.

One check is narrowed, not left out (docs/reliability.md): schema-valid input may be refused
with a 422 only when every error names a field whose validity depends on the data or on another
field, which a JSON Schema cannot say (does this string parse as a phone number, is this topic
known, was this cursor given out).

Slow (`make test-slow`): a bounded number of examples per operation, phase and generation mode,
SCHEMATHESIS_MAX_EXAMPLES (default 25) to change it.
"""

from __future__ import annotations

import asyncio
import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.preferences.browser import served
from tests.unsubscribe.helpers import add_contact, add_topic

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
# Revoking keys by random id would revoke the fuzzer's own key: that operation runs last.
LAST = "DELETE /v1/api-keys/{key_id}"
# Fields whose validity the schema cannot express: an address must parse on its channel, a
# topic must exist (and be sent on the channel), a cursor must be one the service gave out;
# `query.channel` is required only with a newline-delimited bulk body, and `address` only
# together with `channel` when finding contacts.
DATA_DEPENDENT = re.compile(
    r"^(query\.(channel|cursor)|([a-z_]+\[\d+\]\.)?(address|topic)|addresses\[\d+\]|topics|cursor)$")


def data_dependent_acceptance(ctx, response, case):
    """`positive_data_acceptance`, except for a 422 whose every error is a DATA_DEPENDENT field
    or the NUL guard (no field accepts NUL, not even an undeclared property's name)."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Exception:
        if response.status_code != 422:
            raise
        errors = response.json().get("errors") or [{"field": "", "message": ""}]
        if all(DATA_DEPENDENT.match(e["field"]) or "NUL character" in e["message"]
               for e in errors):
            return None
        raise


def fuzz(base: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """(operations run, failures as text) over every operation of the schema."""
    # the key through the schema's own security scheme, so negative cases may leave it out
    key = headers["Authorization"].removeprefix("Bearer ")
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"bearer": {"bearer": key}}}})
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json", config=config)
    failures: list[str] = []
    operations = 0
    ordered = sorted((r.ok() for r in schema.get_all_operations()), key=lambda o: o.label == LAST)
    for operation in ordered:
        operations += 1
        for phase in (TestPhase.COVERAGE, TestPhase.FUZZING):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode, phase=phase)

                @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate, Phase.shrink],
                          suppress_health_check=list(HealthCheck))
                @given(case=strategy)
                def check(case):
                    case.call_and_validate(base_url=base, timeout=30,
                                           excluded_checks=[positive_data_acceptance],
                                           additional_checks=[data_dependent_acceptance])

                try:
                    check()
                except Unsatisfiable:  # nothing to make invalid (GET /healthz)
                    assert mode == GenerationMode.NEGATIVE
                except (Exception, BaseExceptionGroup) as exc:  # report every failing one
                    failures.append(f"--- {operation.label} ({phase.value}, {mode.value}) ---"
                                    f"\n{exc}")
    return operations, failures


async def test_every_operation_of_the_schema(settings, db, rt, admin_headers):
    await add_topic(db, "newsletter", "Newsletter", channels=("email", "sms"))
    await add_contact(db, rt, "email", "ann@example.com")
    with served(settings) as base:
        operations, failures = await asyncio.to_thread(fuzz, base, admin_headers)
    assert operations >= 30
    assert not failures, f"{len(failures)} failing:\n\n" + "\n\n".join(failures)
