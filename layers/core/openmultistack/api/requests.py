"""/v1/requests and /v1/instances."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from openmultistack import ordering
from openmultistack import repository as repo
from openmultistack.api.schemas import (
    ExtendIn,
    InstanceOut,
    InstancePage,
    PlanOut,
    RequestIn,
    RequestOut,
    RequestPage,
    answers,
    instance_out,
    request_out,
)
from openmultistack.domain import InstanceStatus, RequestStatus, Shape
from openmultistack.errors import IdempotencyConflictError
from openmultistack.settings import get_settings

router = APIGatewayRouter()
ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"
RequestId = Annotated[str, Path(pattern=ID, description="Request id, e.g. r-0123456789ab")]
InstanceId = Annotated[str, Path(pattern=ID, description="Instance id, e.g. r-0123456789ab-0000")]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Query(min_length=1, max_length=2048, description="`next` from the previous page")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same key and body within 24 h: the same request again. Same key, other body: 409.",
    ),
]


def _order(body: RequestIn) -> ordering.Order:
    return ordering.Order(
        count=body.count,
        shape=Shape(body.image, body.flavor, body.min_vcpus, body.min_ram_mb),
        lifetime_minutes=body.lifetime_minutes,
        placement=body.placement,
        providers=tuple(body.providers),
        public_key=body.public_key,
        user_data=body.user_data,
    )


def _submit(call: dict[str, Any]) -> dict[str, Any]:
    request = ordering.submit(_order(RequestIn.model_validate(call["body"])))
    return request_out(request).model_dump(mode="json")


@lru_cache(maxsize=1)
def _idempotent_submit() -> tuple[Any, Any]:
    """`_submit` under Powertools Idempotency: the same Idempotency-Key and body give the same
    request; the same key with another body gives IdempotencyValidationError (409). Built on first
    use: its DynamoDB client is not needed on most calls, and not at import (cold start)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=24 * 3600
    )
    store = DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table)
    once = idempotent_function(data_keyword_argument="call", persistence_store=store, config=config)
    return once(_submit), config


_CREATED = answers(202, "Accepted: the request is QUEUED and its execution started", 409, model=RequestOut)
_CREATED[200] = {
    "description": "dry_run: the placement plan; nothing was created",
    "content": {"application/json": {"model": PlanOut}},
}


@router.post(
    "/v1/requests",
    summary="Ask for N instances (202), or preview the placement (dry_run, 200)",
    description="Writes the request and its instances in one transaction and starts the Step "
    "Functions execution named after the request id. Unknown providers in the allow-list: 400.",
    tags=["requests"],
    responses=_CREATED,
)
def create_request(body: RequestIn, idempotency_key: IdempotencyKey = None) -> Response[RequestOut | PlanOut]:
    if body.dry_run:
        plan = ordering.preview(_order(body))
        out = PlanOut(
            count=body.count,
            placed=len(plan.assignments),
            unplaced=plan.unplaced,
            per_provider=plan.per_provider(),
            skipped=plan.skipped,
        )
        return Response(200, content_types.APPLICATION_JSON, out)
    if idempotency_key:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        submit_once, config = _idempotent_submit()
        config.register_lambda_context(router.lambda_context)
        try:
            created = submit_once(call={"key": idempotency_key, "body": body.model_dump(mode="json")})
        except IdempotencyValidationError as error:
            raise IdempotencyConflictError("Idempotency-Key was already used with a different body") from error
        except IdempotencyAlreadyInProgressError as error:
            raise IdempotencyConflictError("a request with this Idempotency-Key is still being processed") from error
        return Response(202, content_types.APPLICATION_JSON, RequestOut.model_validate(created))
    return Response(202, content_types.APPLICATION_JSON, request_out(ordering.submit(_order(body))))


@router.get("/v1/requests", summary="List requests, newest first", tags=["requests"], responses=answers(200, "A page"))
def list_requests(
    status: Annotated[RequestStatus | None, Query()] = None, limit: Limit = 50, cursor: Cursor = None
) -> RequestPage:
    items, next_cursor = ordering.paged(
        lambda: repo.list_requests(status.value if status else None, limit, cursor), cursor
    )
    return RequestPage(items=[request_out(r) for r in items], next=next_cursor)


@router.get(
    "/v1/requests/<request_id>",
    summary="A request with its instances and their attempts",
    tags=["requests"],
    responses=answers(200, "The request", 404),
)
def get_request(request_id: RequestId) -> RequestOut:
    return request_out(repo.get_request(request_id), repo.instances_of(request_id))


@router.post(
    "/v1/requests/<request_id>/extend",
    summary="Extend the life of a request's ACTIVE instances",
    description="Adds `minutes` to each ACTIVE instance's `expires_at`, never past 60 minutes of "
    "life from ACTIVE. Only READY or PARTIAL requests: otherwise 409.",
    tags=["requests"],
    responses=answers(200, "The request with its instances", 404, 409),
)
def extend_request(request_id: RequestId, body: ExtendIn) -> RequestOut:
    ordering.extend(request_id, body.minutes)
    return request_out(repo.get_request(request_id), repo.instances_of(request_id))


@router.delete(
    "/v1/requests/<request_id>",
    summary="Destroy all instances of a request (202; deleting twice is harmless)",
    tags=["requests"],
    status_code=202,
    responses=answers(202, "Accepted: the request is DELETING (or already gone)", 404),
)
def delete_request(request_id: RequestId) -> RequestOut:
    return request_out(ordering.cancel(request_id))


@router.get(
    "/v1/instances",
    summary="List instances by request, provider or status",
    description="DELETED/FAILED instances are listed per request or per provider only.",
    tags=["instances"],
    responses=answers(200, "A page"),
)
def list_instances(
    request: Annotated[str | None, Query(pattern=ID, description="Request id")] = None,
    provider: Annotated[str | None, Query(pattern=ID, description="Provider name")] = None,
    status: Annotated[InstanceStatus | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> InstancePage:
    ordering.check_instance_filters(request, provider, status)
    items, next_cursor = ordering.paged(
        lambda: repo.list_instances(request, provider, status.value if status else None, limit, cursor),
        cursor,
    )
    return InstancePage(items=[instance_out(i) for i in items], next=next_cursor)


@router.get(
    "/v1/instances/<instance_id>",
    summary="One instance",
    tags=["instances"],
    responses=answers(200, "The instance", 404),
)
def get_instance(instance_id: InstanceId) -> InstanceOut:
    return instance_out(repo.get_instance(instance_id))


@router.delete(
    "/v1/instances/<instance_id>",
    summary="Destroy one ACTIVE instance (202); one still provisioning: 409",
    tags=["instances"],
    status_code=202,
    responses=answers(202, "Accepted: the instance is DELETING (or already gone)", 404, 409),
)
def delete_instance(instance_id: InstanceId) -> InstanceOut:
    return instance_out(ordering.delete_instance(instance_id))
