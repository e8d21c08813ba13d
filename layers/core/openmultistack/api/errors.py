"""The one place where errors become HTTP responses. Bodies name the problem; never a trace."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from openmultistack.errors import ConflictError, InvalidInputError, NotFoundError
from openmultistack.observability import logger


def error_response(status: int, error: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if details is not None:
        body["details"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _field(location: Any) -> str:
    parts = [str(p) for p in location if p not in ("body",)]
    return ".".join(parts) or "body"


def register(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid(error: RequestValidationError) -> Response:
        details = [
            {"field": _field(e.get("loc", ())), "problem": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
            for e in error.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        return error_response(422, "validation_error", summary or "invalid request", details)

    @app.exception_handler(InvalidInputError)
    def bad_input(error: InvalidInputError) -> Response:
        return error_response(400, "bad_request", str(error))

    @app.exception_handler(NotFoundError)
    def not_found(error: NotFoundError) -> Response:
        return error_response(404, "not_found", str(error))

    @app.exception_handler(ConflictError)
    def conflict(error: ConflictError) -> Response:
        return error_response(409, "conflict", str(error))

    @app.exception_handler(IdempotencyValidationError)
    def reused_key(error: IdempotencyValidationError) -> Response:
        return error_response(409, "idempotency_conflict", "Idempotency-Key was already used with a different body")

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def in_progress(error: IdempotencyAlreadyInProgressError) -> Response:
        return error_response(409, "idempotency_in_progress", "a request with this Idempotency-Key is still being processed")

    @app.not_found
    def no_route(error: Exception) -> Response:
        return error_response(404, "not_found", f"no route {app.current_event.http_method} {app.current_event.path}")

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the logs for the request id")
