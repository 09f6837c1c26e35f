"""schemathesis, generating requests from ``/openapi.json`` against a live API: whatever it
sends, the server never answers with a 5xx, and every answer matches the document.

One schemathesis check is left out: "schema-valid data must be accepted". A URL source or
callback must also pass the SSRF rules (no private or metadata addresses, resolved at fetch
time), which JSON Schema cannot express, so a schema-valid ``https://10.0.0.1/`` is rightly
a 422. Buckets and output bounds, which can be expressed, are in the document.

(schemathesis' lazy pytest loader does not run under pytest 9, so each operation's
hypothesis strategy is driven directly; the checks are schemathesis' own.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from infra.devstack import LocalStack

pytestmark = pytest.mark.integration

OPERATIONS = ["POST /v1/jobs", "GET /v1/jobs/{job_id}", "POST /v1/events/s3", "GET /healthz"]


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Redis and the API only: accepted jobs just wait (no worker fetches fuzzed URLs)."""
    stack = LocalStack(tmp_path_factory.mktemp("fuzz"), workers=False, sqs_poller=False).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def operations(fuzz_stack: LocalStack) -> dict[str, Any]:
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.api_url}/openapi.json")
    found = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def test_every_operation_is_described(operations: dict[str, Any]) -> None:
    assert sorted(operations) == sorted(OPERATIONS)


@pytest.mark.parametrize("name", OPERATIONS)
def test_no_server_errors_and_answers_match_the_document(
    name: str, operations: dict[str, Any], fuzz_stack: LocalStack
) -> None:
    seen: dict[int, int] = {}

    @given(case=operations[name].as_strategy())
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        headers = fuzz_stack.event_headers if "events" in name else fuzz_stack.auth_headers
        response = case.call_and_validate(
            headers=headers,
            additional_checks=[not_a_server_error],
            excluded_checks=[positive_data_acceptance],
        )
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    fuzz()
    assert seen and all(status < 500 for status in seen), seen
    if name in ("POST /v1/jobs", "POST /v1/events/s3"):
        assert 403 not in seen, seen  # the fuzzer's credential may do this
    if name == "POST /v1/jobs":
        assert {202, 422} <= set(seen), seen  # it reached both acceptance and refusal
