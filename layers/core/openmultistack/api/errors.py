"""The one place where errors become HTTP responses. Bodies name the problem; never a trace."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from openmultistack.errors import ConflictError, InvalidInputError, NotFoundError
from openmultistack.observability import logger


def error_response(
    status: int, error: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if details is not None:
        body["details"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


# Pydantic's wording, made plain where it is not.
PLAIN = {
    "Field required": "required",
    "Extra inputs are not permitted": "unknown field",
}


def _field(location: Any) -> str:
    """`count`, `image_aliases.ubuntu`, `limit`, `Idempotency-Key`: the name a client sent."""
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _problem(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return PLAIN.get(message, message)


def register(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid(error: RequestValidationError) -> Response:
        details = [{"field": _field(e.get("loc", ())), "problem": _problem(e)} for e in error.errors()]
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        return error_response(422, "validation_error", summary or "invalid request", details)

    @app.exception_handler(InvalidInputError)
    def bad_input(error: InvalidInputError) -> Response:
        message = str(error)
        field, named, problem = message.partition(": ")
        details = [{"field": field, "problem": problem}] if named and " " not in field else None
        return error_response(400, "bad_request", message, details)

    @app.exception_handler(NotFoundError)
    def not_found(error: NotFoundError) -> Response:
        return error_response(404, "not_found", str(error))

    @app.exception_handler(ConflictError)
    def conflict(error: ConflictError) -> Response:
        return error_response(409, error.code, str(error))

    @app.not_found
    def no_route(error: Exception) -> Response:
        return error_response(404, "not_found", f"no route {app.current_event.http_method} {app.current_event.path}")

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the logs for the request id")
