"""The API Lambda handler called with the sample API Gateway events of events/api_*.json: the
answers that need no AWS (health, CORS preflight, the token check) come back as API Gateway
proxy responses."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.stack import LambdaContext

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@cache
def handler_module() -> ModuleType:
    # Loaded from its file, as Lambda (and the local stack) do: functions/ is no package.
    spec = importlib.util.spec_from_file_location("oms_api_handler_under_test", ROOT / "functions/api/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(function_name="oms-api", invoked_function_arn="arn:aws:lambda:eu-west-1:1:function:oms-api")
    return handler_module().lambda_handler(event, context)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_every_sample_event_is_an_api_gateway_rest_proxy_event() -> None:
    names = sorted(p.name for p in EVENTS.glob("api_*.json"))
    assert names == [
        "api_create_request.json",
        "api_health.json",
        "api_list_providers_no_token.json",
        "api_preflight.json",
    ]
    for name in names:
        event = sample(name)
        assert {"httpMethod", "path", "headers", "requestContext", "body", "isBase64Encoded"} <= set(event)


def test_health() -> None:
    # GIVEN the sample health event  WHEN handled  THEN 200 {"status":"ok"}
    response = invoke(sample("api_health.json"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}


def test_cors_preflight_needs_no_token() -> None:
    response = invoke(sample("api_preflight.json"))
    assert response["statusCode"] == 204
    headers = {k.lower(): v for k, v in response["multiValueHeaders"].items()}
    assert headers["access-control-allow-origin"] == ["*"]
    assert "Idempotency-Key" in headers["access-control-allow-headers"][0]


@pytest.mark.parametrize("name", ["api_list_providers_no_token.json", "api_create_request.json"])
def test_a_request_without_the_right_token_is_401_with_a_challenge(name: str) -> None:
    # GIVEN a sample event with no Authorization header (the create sample's placeholder removed)
    event = sample(name)
    event["headers"].pop("Authorization", None)
    event["multiValueHeaders"].pop("Authorization", None)
    # WHEN handled  THEN 401, a Bearer challenge, CORS for the console, an Error body
    response = invoke(event)
    assert response["statusCode"] == 401
    headers = {k.lower(): v for k, v in response["multiValueHeaders"].items()}
    assert headers["www-authenticate"] == ['Bearer realm="openmultistack"']
    assert headers["access-control-allow-origin"] == ["*"]
    assert json.loads(response["body"])["error"] == "unauthorized"


def test_the_create_sample_is_a_valid_request_body() -> None:
    from openmultistack.api.schemas import RequestIn

    body = RequestIn.model_validate_json(sample("api_create_request.json")["body"])
    assert body.count == 100 and body.lifetime_minutes == 45
