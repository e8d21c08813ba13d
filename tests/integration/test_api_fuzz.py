"""Property-based fuzzing of the live API from its own /v1/openapi.json (schemathesis): valid and
invalid inputs on every documented operation get no 5xx, a documented status code and a body
that matches the documented schema; invalid input is refused.

Bounded and deterministic: a fixed seed, derandomized hypothesis, ~25 examples per operation.
Nothing the fuzzer does creates load or breaks the shared stack: POST /v1/requests runs as a dry
run, provider deletion is left out, and providers it registers point at a closed local port and
are removed afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from tests.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Checks about what the API promises. `positive_data_acceptance` is left out on purpose: business
# rules the schema cannot state (an allow-list naming unknown providers, flavor together with
# min_vcpus, unknown ids) rightly refuse schema-valid input with 400/404.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
CLOSED_PORT_AUTH_URL = "http://127.0.0.1:9/identity/v3"  # connection refused at once
AUTH_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


@pytest.fixture(scope="module")
def original_providers(stack: Any) -> Iterator[set[str]]:
    with httpx.Client(base_url=stack.url, headers=AUTH, timeout=60) as client:
        before = {p["name"] for p in client.get("/v1/providers").json()["items"]}
        yield before
        # THEN (cleanup) whatever the fuzzer registered goes away again.
        for provider in client.get("/v1/providers").json()["items"]:
            if provider["name"] not in before:
                client.delete(f"/v1/providers/{provider['name']}", params={"force": "true"})


# Every documented operation (test_every_operation_is_fuzzed keeps this list honest). DELETE of a
# provider is left out: it would remove the providers other tests share.
OPERATIONS = [
    ("GET", "/v1/health"),
    ("GET", "/v1/providers"),
    ("POST", "/v1/providers"),
    ("POST", "/v1/providers/import"),
    ("GET", "/v1/providers/{name}"),
    ("PATCH", "/v1/providers/{name}"),
    ("POST", "/v1/providers/{name}/check"),
    ("GET", "/v1/capacity"),
    ("POST", "/v1/requests"),
    ("GET", "/v1/requests"),
    ("GET", "/v1/requests/{request_id}"),
    ("POST", "/v1/requests/{request_id}/extend"),
    ("DELETE", "/v1/requests/{request_id}"),
    ("GET", "/v1/instances"),
    ("GET", "/v1/instances/{instance_id}"),
    ("DELETE", "/v1/instances/{instance_id}"),
]
NOT_FUZZED = {("DELETE", "/v1/providers/{name}")}


@pytest.fixture(scope="module")
def api_schema(stack: Any, original_providers: set[str]) -> Any:
    config = SchemathesisConfig.from_dict({"seed": 20261204, "generation": {"deterministic": True}})
    return schemathesis.openapi.from_url(f"{stack.url}/v1/openapi.json", headers=AUTH, config=config)


def _defuse(case: Any) -> None:
    """Keep a generated case harmless without making invalid input valid (or the reverse)."""
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return
    if case.method == "POST" and case.path == "/v1/requests" and isinstance(body.get("dry_run", False), bool):
        body["dry_run"] = True
    if case.method == "POST" and case.path == "/v1/providers":
        url = body.get("auth_url")
        if isinstance(url, str) and AUTH_URL.fullmatch(url) and len(url) <= 1024:
            body["auth_url"] = CLOSED_PORT_AUTH_URL


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    # GIVEN the live OpenAPI document  THEN the fuzz list covers each of its operations
    documented = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS) | NOT_FUZZED


CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (path == "/v1/health" and mode == GenerationMode.NEGATIVE)  # no input to make invalid
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=lambda v: str(v))
def test_operation_conforms_to_the_openapi_document(
    api_schema: Any, stack: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @seed(20261204)
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        # GIVEN a generated call (valid or invalid input), with the token
        _defuse(case)
        # WHEN it is sent  THEN no 5xx, the status and body are documented, invalid input is refused
        case.call_and_validate(base_url=stack.url, headers=AUTH, checks=CHECKS)

    fuzz()
