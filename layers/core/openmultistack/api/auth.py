"""Bearer-token authentication for every route but the public ones."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from openmultistack.api.errors import error_response
from openmultistack.secrets import api_token

# The health probe, the console shell and the docs page shell (it asks for the token itself).
PUBLIC = {"/v1/health", "/", "/index.html", "/v1/docs"}
PUBLIC_PREFIXES = ("/console/", "/v1/docs/")


def is_public(method: str, path: str) -> bool:
    return method == "OPTIONS" or path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def authenticated(header: str | None) -> bool:
    scheme, _, token = (header or "").partition(" ")
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(token.strip().encode(), api_token().encode())


def require_token(app: APIGatewayRestResolver, next_middleware: Callable[..., Response]) -> Response:
    event = app.current_event
    if is_public(event.http_method, event.path) or authenticated(event.headers.get("authorization")):
        return next_middleware(app)
    return error_response(
        401,
        "unauthorized",
        "missing or invalid bearer token (header 'Authorization: Bearer <token>')",
        headers={"WWW-Authenticate": 'Bearer realm="openmultistack"'},
    )
