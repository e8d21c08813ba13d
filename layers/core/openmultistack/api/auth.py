"""Who may call, and whether what they sent can be read at all — checked before routing.

The token lives in Secrets Manager and is cached (Powertools parameters, `max_age`) so a rotated
token takes effect within the cache time; the comparison is constant-time."""

from __future__ import annotations

import base64
import binascii
import hmac
import json

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from openmultistack.api.errors import error_response
from openmultistack.observability import logger
from openmultistack.secrets import api_token

# The health probe, the console shell and the docs page shell with its assets (the page asks
# for the token and sends it with every call, including the one for /v1/openapi.json).
PUBLIC = {"/v1/health", "/", "/index.html", "/v1/docs"}
PUBLIC_PREFIXES = ("/console/", "/v1/docs/")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="openmultistack"'}


def is_public(method: str, path: str) -> bool:
    # OPTIONS is the CORS preflight: browsers never send credentials with it.
    return method == "OPTIONS" or path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def authenticated(header: str | None) -> bool:
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token.strip().encode(), api_token().encode())


def unauthorized() -> Response:
    return error_response(
        401,
        "unauthorized",
        "missing or invalid bearer token (header 'Authorization: Bearer <token>')",
        headers=CHALLENGE,
    )


def body_problem(event: BaseProxyEvent) -> str | None:
    """Why the body cannot be read as JSON, or None. Routes without a body ignore it."""
    raw = event.body
    if not raw:
        return None
    try:
        text = base64.b64decode(raw, validate=True).decode() if event.is_base64_encoded else raw
    except (binascii.Error, UnicodeDecodeError):
        return "body: not UTF-8 text; this API accepts JSON bodies only"
    try:
        json.loads(text)
    except RecursionError:
        return "body: JSON nested too deeply"
    except ValueError as error:
        return f"body: not valid JSON ({error}); this API accepts JSON bodies only"
    return None


def refusal(event: BaseProxyEvent) -> Response | None:
    """The response for a request that must not reach a route, or None to go on."""
    if not is_public(event.http_method.upper(), event.path):
        try:
            ok = authenticated(event.headers.get("authorization"))
        except Exception:  # Secrets Manager unreachable: the client did nothing wrong
            logger.exception("cannot read the API token")
            return error_response(503, "unavailable", "cannot verify the token right now; retry shortly")
        if not ok:
            return unauthorized()
    problem = body_problem(event) if event.http_method.upper() in ("POST", "PUT", "PATCH", "DELETE") else None
    if problem:
        return error_response(400, "bad_request", problem, details=[{"field": "body", "problem": problem[6:]}])
    return None
