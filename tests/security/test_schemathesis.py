"""schemathesis over the whole OpenAPI schema (`/schema/openapi.json`) against the real app
served by uvicorn, authenticated with an admin key, on both engines: no 5xx, responses that
match the schema (status codes, content types, bodies, headers), invalid input rejected.

Slow (`make test-slow`): a bounded number of examples per operation and generation mode,
SCHEMATHESIS_MAX_EXAMPLES (default 25) to change it.
"""

from __future__ import annotations

import asyncio
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.preferences.browser import served
from tests.unsubscribe.helpers import add_contact, add_topic

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
# Schema-valid input may still be refused (422): an address that does not parse or an unknown
# topic is a string like any other to the schema. Every other standard check runs.
EXCLUDED = [positive_data_acceptance]
# Revoking keys by random id would revoke the fuzzer's own key: that operation runs last.
LAST = "DELETE /v1/api-keys/{key_id}"


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
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate, Phase.shrink],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                case.call_and_validate(base_url=base, timeout=30,
                                       excluded_checks=EXCLUDED)

            try:
                check()
            except Unsatisfiable:  # no parameters to make invalid (GET /healthz)
                assert mode == GenerationMode.NEGATIVE
            except (Exception, BaseExceptionGroup) as exc:  # report every failing operation
                failures.append(f"--- {operation.label} ({mode.value}) ---\n{exc}")
    return operations, failures


async def test_every_operation_of_the_schema(settings, db, rt, admin_headers):
    await add_topic(db, "newsletter", "Newsletter", channels=("email", "sms"))
    await add_contact(db, rt, "email", "ann@example.com")
    with served(settings) as base:
        operations, failures = await asyncio.to_thread(fuzz, base, admin_headers)
    assert operations >= 30
    assert not failures, f"{len(failures)} failing:\n\n" + "\n\n".join(failures)
