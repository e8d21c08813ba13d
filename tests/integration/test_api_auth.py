"""Authentication, CORS, routing errors and the OpenAPI/Swagger documents, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN

# Every route that needs the token, with a body that would be valid if authenticated.
PROTECTED = [
    ("GET", "/v1/providers", None),
    ("POST", "/v1/providers", {"name": "nope", "auth_url": "http://127.0.0.1:9/v3"}),
    ("POST", "/v1/providers/import", {"clouds_yaml": "clouds: {}"}),
    ("GET", "/v1/providers/sim-1", None),
    ("PATCH", "/v1/providers/sim-1", {"enabled": False}),
    ("DELETE", "/v1/providers/sim-1", None),
    ("POST", "/v1/providers/sim-1/check", None),
    ("GET", "/v1/capacity", None),
    ("POST", "/v1/requests", {"count": 1, "image": "ubuntu", "dry_run": True}),
    ("GET", "/v1/requests", None),
    ("GET", "/v1/requests/r-000000000000", None),
    ("POST", "/v1/requests/r-000000000000/extend", {"minutes": 5}),
    ("DELETE", "/v1/requests/r-000000000000", None),
    ("GET", "/v1/instances", None),
    ("GET", "/v1/instances/r-000000000000-0000", None),
    ("DELETE", "/v1/instances/r-000000000000-0000", None),
    ("GET", "/v1/openapi.json", None),
    ("GET", "/v1/no-such-route", None),
]
DOCUMENTED = {
    ("GET", "/v1/health"),
    ("GET", "/v1/providers"),
    ("POST", "/v1/providers"),
    ("POST", "/v1/providers/import"),
    ("GET", "/v1/providers/{name}"),
    ("PATCH", "/v1/providers/{name}"),
    ("DELETE", "/v1/providers/{name}"),
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
}
BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": "Bearer"},
    {"Authorization": f"Bearer {TOKEN}x"},
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=lambda v: str(v))
@pytest.mark.parametrize("headers", BAD_CREDENTIALS, ids=["none", "wrong", "basic", "empty", "longer"])
def test_every_route_refuses_a_missing_or_wrong_token(
    stack: Any, sim: Any, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    # GIVEN no valid bearer token  WHEN any protected route is called
    response = httpx.request(method, f"{stack.url}{path}", json=body, headers=headers)
    # THEN 401 with a challenge and an Error body, and nothing happened (sim-1 is still enabled)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["message"]


def test_sim_1_survived_the_unauthenticated_calls(api: httpx.Client) -> None:
    # GIVEN the unauthenticated PATCH/DELETE above  THEN sim-1 is still there and enabled
    assert api.get("/v1/providers/sim-1").json()["enabled"] is True


def test_unauthenticated_bad_input_is_401_not_a_validation_error(stack: Any) -> None:
    # GIVEN no token and a malformed body  WHEN posted  THEN 401 (the schema is not revealed)
    response = httpx.post(f"{stack.url}/v1/requests", content=b"{not json", headers={})
    assert response.status_code == 401


def test_health_needs_no_token_and_the_token_is_accepted_case_insensitively(stack: Any) -> None:
    # GIVEN no token  WHEN /v1/health  THEN ok
    assert httpx.get(f"{stack.url}/v1/health").json() == {"status": "ok"}
    # GIVEN the scheme written in lower case  WHEN a protected route  THEN accepted
    assert httpx.get(f"{stack.url}/v1/capacity", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_cors_preflight_works_without_a_token(stack: Any) -> None:
    # GIVEN a browser preflight from the console's origin (browsers send no credentials with it)
    response = httpx.options(
        f"{stack.url}/v1/requests",
        headers={
            "Origin": "https://console.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    # THEN 204 allowing the method and the headers the console sends
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(","))
    assert "POST" in response.headers["access-control-allow-methods"]


def test_a_401_carries_cors_headers_so_the_console_can_read_it(stack: Any) -> None:
    response = httpx.get(f"{stack.url}/v1/providers", headers={"Origin": "https://console.example"})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "*"


def test_unknown_routes_are_404_and_wrong_methods_405(api: httpx.Client) -> None:
    # GIVEN the token  WHEN an unknown path  THEN 404 naming it
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "no route GET /v1/nothing-here"}
    # WHEN a known path with a method it does not have  THEN 405 with Allow
    wrong = api.put("/v1/providers", json={})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"
    assert "PUT is not allowed" in wrong.json()["message"]


def test_openapi_document_describes_every_route_with_auth_and_errors(api: httpx.Client) -> None:
    # GIVEN the token  WHEN /v1/openapi.json  THEN a 3.1 document with bearer security
    doc = api.get("/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The API token (Secrets Manager)",
    }
    assert doc["security"] == [{"bearer": []}]
    operations = {(m.upper(), p): op for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert set(operations) == DOCUMENTED
    assert operations[("GET", "/v1/health")]["security"] == []
    error_ref = {"$ref": "#/components/schemas/Error"}
    for (method, path), op in operations.items():
        if path == "/v1/health":
            continue
        # THEN every protected operation documents 401/400/422 with the Error model
        for code in ("400", "401", "422"):
            assert op["responses"][code]["content"]["application/json"]["schema"] == error_ref, (
                method,
                path,
                code,
            )
    assert "202" in operations[("POST", "/v1/requests")]["responses"]
    assert "200" in operations[("POST", "/v1/requests")]["responses"]  # the dry run
    assert "409" in operations[("DELETE", "/v1/providers/{name}")]["responses"]
    assert "404" in operations[("GET", "/v1/requests/{request_id}")]["responses"]
    # AND no response model has a credential field
    for name in ("ProviderOut", "ProviderList", "CheckOut", "CapacityOut"):
        properties = set(doc["components"]["schemas"][name].get("properties", {}))
        assert not properties & {
            "password",
            "username",
            "application_credential_secret",
            "application_credential_id",
        }


def test_swagger_ui_page_and_assets_are_public_and_point_at_the_spec(stack: Any) -> None:
    # GIVEN no token  WHEN the docs page and its script  THEN both load (the page asks for the token)
    page = httpx.get(f"{stack.url}/v1/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/v1/openapi.json" in page.text
    script = httpx.get(f"{stack.url}/v1/docs/swagger-ui.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert httpx.get(f"{stack.url}/v1/docs/nope.js").status_code == 404
