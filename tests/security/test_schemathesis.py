"""schemathesis over the whole OpenAPI schema (`/schema/openapi.json`) against the real app
served by uvicorn, authenticated with an admin key (the tenants API, scope `operator`, with an
operator key and `X-Tenant: default`), on both engines, with every check:
`st run --checks all` over the examples, coverage and fuzzing phases (no 5xx; status codes,
content types, bodies and headers as documented; `Allow` on OPTIONS; unsupported methods
refused; invalid input rejected; schema-valid input accepted; auth not ignored).

One check is narrowed, not left out: schema-valid input may be refused with 422 only for a
reason the schema cannot express (`schemathesis_hooks.py`, docs/reliability.md). The stateful
phase is not run: it feeds values from one answer into another operation's fields (an API
key's secret into a topic `key`), which are then not schema-valid.

Slow (`make test-slow`): SCHEMATHESIS_MAX_EXAMPLES (default 25) cases per operation and phase.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.sms.providers import PROVIDERS as SMS_PROVIDERS
from tests.conftest import ROOT
from tests.preferences.browser import served
from tests.security.schemathesis_hooks import data_dependent_acceptance
from tests.unsubscribe.helpers import add_contact, add_topic

pytestmark = pytest.mark.slow
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
# Revoking keys by random id would revoke the fuzzer's own key: that operation runs last,
# on its own.
LAST = "DELETE /v1/api-keys/{key_id}"
ST = [sys.executable, "-m", "schemathesis.cli"]
CONFIG = Path(__file__).with_name("schemathesis.toml")
# The operator's API (scope `operator`, which no admin key has): fuzzed with an operator key.
TENANTS = "tenants"


def run_all_checks(base: str, headers: dict[str, str], workdir: Path,
                   operations: tuple[str, ...] = ("--exclude-tag", TENANTS)
                   ) -> subprocess.CompletedProcess:
    """`st run --checks all` over every operation but LAST (its cache kept in `workdir`), and
    but the tenants API unless `operations` says which to run instead."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_hooks",
           "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run(
        [*ST, "--config-file", str(CONFIG), "run", f"{base}/schema/openapi.json",
         "--checks", "all",
         "--exclude-checks", "positive_data_acceptance",
         "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES),
         *(arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")),
         *operations,
         "--exclude-operation-id", "revokeApiKey", "--workers", "1", "--no-color",
         "--output-sanitize", "false"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=1800)


def fuzz_last(base: str, headers: dict[str, str]) -> list[str]:
    """LAST alone, positive and negative, with the same checks (failures as text)."""
    key = headers["Authorization"].removeprefix("Bearer ")
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"bearer": {"bearer": key}}}})
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json", config=config)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == LAST)
    failures: list[str] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate, Phase.shrink],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            case.call_and_validate(base_url=base, timeout=30,
                                   excluded_checks=[positive_data_acceptance],
                                   additional_checks=[data_dependent_acceptance])

        try:
            check()
        except Unsatisfiable:
            pass
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"--- {LAST} ({mode.value}) ---\n{exc}")
    return failures


# (the default tenant's URLs, and each tenant's by its slug: an unknown one answers 404)
SIGNED_WEBHOOKS = {f"POST /v1/webhooks/{name}{tenant}" for name in SMS_PROVIDERS
                   for tenant in ("", "/{tenant}")}


def refused_operations(out: str) -> set[str]:
    """The operations schemathesis lists under its "Authentication failed" warning (up to the
    warning's hint line)."""
    warning = out.partition("Authentication failed")[2].partition("\U0001f4a1")[0]
    return {line.strip()[2:] for line in warning.splitlines() if line.strip().startswith("- ")}


async def test_every_operation_of_the_schema(settings, db, rt, admin_headers, operator_headers,
                                             tmp_path):
    await add_topic(db, "newsletter", "Newsletter", channels=("email", "sms"))
    await add_contact(db, rt, "email", "ann@example.com")
    operator = {**operator_headers, "X-Tenant": "default"}
    (tmp_path / "operator").mkdir()
    with served(settings) as base:
        result = await asyncio.to_thread(run_all_checks, base, admin_headers, tmp_path)
        last = await asyncio.to_thread(fuzz_last, base, admin_headers)
        tenants = await asyncio.to_thread(run_all_checks, base, operator, tmp_path / "operator",
                                          ("--include-tag", TENANTS))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-20000:]
    # The key worked throughout: the only operations answered with nothing but 401/403 are the
    # SMS webhooks, whose credential is the provider's signature (tests/sms signs them).
    assert refused_operations(out) <= SIGNED_WEBHOOKS, out[-3000:]
    assert re.search(r"\d+ generated, \d+ passed", out), out[-3000:]
    assert not last, "\n\n".join(last)
    # the tenants API with the operator's key: every operation run, none refused
    out = tenants.stdout + tenants.stderr
    assert tenants.returncode == 0, out[-20000:]
    assert not refused_operations(out), out[-3000:]
    assert re.search(r"\b4 selected\b|\b4 total\b|Operations:\s+4\b", out), out[-3000:]
