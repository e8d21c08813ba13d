"""The resolver: routes, auth, CORS, body decoding, errors, OpenAPI and docs.

Powertools runs its request validation before any middleware, so the bearer token and the body's
encoding are checked in `_resolve`, ahead of route matching: an unauthenticated client learns
nothing about routes or schemas, and every refusal still flows through the exception handlers and
CORS like any other response."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder, Route
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.utilities.typing import LambdaContext

from openmultistack.api import errors, providers, requests
from openmultistack.api.auth import refusal
from openmultistack.api.docs import docs_page, swagger_asset
from openmultistack.api.errors import error_response
from openmultistack.api.schemas import HealthOut

TITLE, VERSION = "OpenMultiStack API", "1.0.0"
CONSOLE = Path(__file__).resolve().parent.parent / "console"
DESCRIPTION = (
    "Burst onto many OpenStack provider accounts. Every route but `GET /v1/health` needs "
    "`Authorization: Bearer <token>`. Bodies are JSON (sent with any Content-Type). Errors are "
    "`{error, message, details?}`; the message names the field at fault."
)


def as_json_request(event: Mapping[str, Any]) -> dict[str, Any]:
    """This API speaks JSON only: a body is read as JSON whatever its Content-Type (`curl -d`
    sends form encoding by default), so a client never gets a confusing form-parsing error."""
    event = dict(event)
    if not event.get("body"):
        return event
    for key in ("headers", "multiValueHeaders"):
        headers = {k: v for k, v in (event.get(key) or {}).items() if k.lower() != "content-type"}
        headers["content-type"] = (
            [content_types.APPLICATION_JSON] if key == "multiValueHeaders" else content_types.APPLICATION_JSON
        )
        event[key] = headers
    return event


class Api(APIGatewayRestResolver):
    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        return super().resolve(as_json_request(event), context)

    def _resolve(self) -> ResponseBuilder:
        early = refusal(self.current_event)
        if early is not None:
            return self._answer(lambda: early)
        method, path = self.current_event.http_method.upper(), self._remove_prefix(self.current_event.path)
        if method != "OPTIONS" and not self._matches(method, path):
            allowed = sorted(r.method for r in self._static_routes + self._dynamic_routes if r.rule.match(path))
            if allowed:
                return self._answer(lambda: method_not_allowed(method, path, allowed))
        return super()._resolve()

    def _matches(self, method: str, path: str) -> bool:
        return any(r.method == method and r.rule.match(path) for r in self._static_routes + self._dynamic_routes)

    def _answer(self, produce: Callable[[], Response]) -> ResponseBuilder:
        """Answer without a route, through the same handlers and CORS as a routed response."""
        path = self._remove_prefix(self.current_event.path)
        route = Route(
            method=self.current_event.http_method.upper(),
            path=path,
            rule=self._compile_regex(r".*"),
            func=produce,
            cors=self._cors_enabled,
            compress=False,
        )
        self.append_context(_route=route, _path=path)
        return self._call_route(route=route, route_arguments={})


def method_not_allowed(method: str, path: str, allowed: list[str]) -> Response:
    return error_response(
        405,
        "method_not_allowed",
        f"{method} is not allowed on {path}; use {', '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)},
    )


app = Api(
    enable_validation=True,
    cors=CORSConfig(
        allow_origin="*",
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["WWW-Authenticate"],
        max_age=600,
    ),
)
errors.register(app)
app.include_router(providers.router)
app.include_router(requests.router)


@app.get(
    "/v1/health",
    summary="Liveness (no token needed)",
    tags=["health"],
    responses={200: {"description": "Alive"}},
)
def health() -> HealthOut:
    return HealthOut()


@lru_cache(maxsize=1)
def openapi_document() -> str:
    """The OpenAPI document, generated once per container from the same models the routes use."""
    schema = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=DESCRIPTION,
            security_schemes={"bearer": HTTPBearer(description="The API token (Secrets Manager)")},
            security=[{"bearer": []}],
        )
    )
    schema["paths"]["/v1/health"]["get"]["security"] = []  # the one public operation
    # Powertools documents its own 422 shape on every route; ours is the Error model (set per
    # route by `answers`), and a route without input (health) has no 422 at all.
    default_422 = {"$ref": "#/components/schemas/HTTPValidationError"}
    for operations in schema["paths"].values():
        for operation in operations.values():
            if (
                operation["responses"].get("422", {}).get("content", {}).get("application/json", {}).get("schema")
                == default_422
            ):
                del operation["responses"]["422"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schema["components"]["schemas"].pop(name, None)
    return json.dumps(schema)


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi():  # type: ignore[no-untyped-def]  # no annotation: Powertools would validate the body against it
    return Response(200, content_types.APPLICATION_JSON, openapi_document())


@app.get("/v1/docs", include_in_schema=False)
def docs():  # type: ignore[no-untyped-def]
    return Response(200, "text/html; charset=utf-8", docs_page())


@app.get("/v1/docs/<asset>", include_in_schema=False)
def docs_asset(asset: str):  # type: ignore[no-untyped-def]
    body, kind = swagger_asset(asset)
    return Response(200, kind, body, headers={"Cache-Control": "public, max-age=86400"})


# --- web console: static files, public (the page asks for the token itself) -----------------
CONSOLE_ASSETS = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
CONSOLE_HEADERS = {
    # Everything is served from here: no CDN, no inline script or style, no framing.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@app.get("/", include_in_schema=False)
def console():  # type: ignore[no-untyped-def]
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    return Response(200, "text/html; charset=utf-8", page, headers=CONSOLE_HEADERS)


@app.get("/console/<asset>", include_in_schema=False)
def console_asset(asset: str):  # type: ignore[no-untyped-def]
    kind = CONSOLE_ASSETS.get(asset)  # allow-list: a request path never reaches the filesystem
    if kind is None:
        return errors.error_response(404, "not_found", f"no console asset '{asset}'")
    return Response(200, kind, (CONSOLE / asset).read_text(encoding="utf-8"), headers=CONSOLE_HEADERS)
